import HookstreamServer
import HookstreamSystemd

/// What systemd and the metrics hear about reloads, and the status line systemd shows.
enum ReloadNotifications {
    static func observer(app: Hookstream, notifier: SystemdNotifier?) -> ConfigReloader.Observer {
        ConfigReloader.Observer(
            willReload: {
                notifier?.notify("RELOADING=1", "MONOTONIC_USEC=\(SystemdNotifier.monotonicMicroseconds())", "STATUS=reloading the config")
            },
            didReload: { result in
                if case .success = result { app.countReload(applied: true) } else { app.countReload(applied: false) }
                notifier?.notify("READY=1", "STATUS=\(status(app))")
            })
    }

    /// `STATUS=` text: open streams and events published so far.
    static func status(_ app: Hookstream) -> String {
        let figures = app.figures
        return "serving \(figures.streams) stream\(figures.streams == 1 ? "" : "s"), \(figures.eventsPublished) events published since start"
    }
}
