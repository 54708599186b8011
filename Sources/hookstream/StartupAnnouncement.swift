import HookstreamServer
import Logging
import ServiceLifecycle

/// Logs `hookstream started` (with its MESSAGE_ID) once every listener is bound and the store is open.
struct StartupAnnouncement: Service, CustomStringConvertible {
    /// The name swift-service-lifecycle logs as `sl-service` (the default would print every stored property).
    var description: String { "StartupAnnouncement" }

    let app: Hookstream
    let logger: Logger

    func run() async {
        do {
            try await cancelWhenGracefulShutdown {
                while !app.isReady { try await Task.sleep(for: .milliseconds(10)) }
            }
        } catch {
            return
        }
        logger.info("hookstream started", metadata: LogMessageID.metadata(LogMessageID.started))
        // Stay until shutdown, as a service of the group.
        try? await gracefulShutdown()
    }
}
