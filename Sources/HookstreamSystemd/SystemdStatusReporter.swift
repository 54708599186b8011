public import Logging
public import ServiceLifecycle

/// Tells systemd how the daemon is doing: `READY=1` once it serves (listeners bound, store open), a `STATUS=` line
/// with live figures on a period, and `STOPPING=1` as soon as shutdown begins. Run it as the group's last service,
/// so that it is the first told to shut down.
public struct SystemdStatusReporter<C: Clock>: Service, CustomStringConvertible where C.Duration == Duration {
    /// The name swift-service-lifecycle logs as `sl-service` (the default would print every stored property).
    public var description: String { "SystemdStatusReporter" }

    private let notifier: SystemdNotifier
    private let isReady: @Sendable () -> Bool
    private let status: @Sendable () -> String
    private let interval: Duration
    private let clock: C
    private let logger: Logger
    /// Set once `READY=1` was sent (the watchdog waits for it).
    public let announcement = ReadyAnnouncement()

    /// - Parameters:
    ///   - isReady: whether the daemon serves yet; polled until it does.
    ///   - status: the `STATUS=` text.
    ///   - interval: how often the status is refreshed.
    public init(
        notifier: SystemdNotifier, clock: C, interval: Duration = .seconds(10), isReady: @escaping @Sendable () -> Bool,
        status: @escaping @Sendable () -> String, logger: Logger
    ) {
        self.notifier = notifier
        self.isReady = isReady
        self.status = status
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    public func run() async {
        let notifier = self.notifier
        let announcement = self.announcement
        await withGracefulShutdownHandler {
            // The loop ends with the shutdown: cancelled by it, not left to sleep out its period.
            try? await cancelWhenGracefulShutdown {
                while !isReady() { try await clock.sleep(for: .milliseconds(10)) }
                notifier.notify("READY=1", "STATUS=\(status())")
                announcement.markAnnounced()
                logger.debug("Told systemd READY=1")
                while true {
                    try await clock.sleep(for: interval)
                    notifier.notify("STATUS=\(status())")
                }
            }
        } onGracefulShutdown: {
            notifier.notify("STOPPING=1", "STATUS=stopping: ending streams")
        }
    }
}
