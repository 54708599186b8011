import HookstreamCore
import Logging
import ServiceLifecycle

/// Closes the event store when the daemon stops. It is the first service of the group, so it is the last one told
/// to shut down: by then the listeners are closed and the streams ended, and nothing publishes any more. Closing
/// the SQLite store moves what its append log still holds into SQLite and empties the log, so a clean stop leaves
/// nothing for the next start to recover.
struct StoreCloser: Service, CustomStringConvertible {
    /// The name swift-service-lifecycle logs as `sl-service` (the default would print every stored property).
    var description: String { "StoreCloser" }

    let store: any EventStore
    let logger: Logger

    func run() async {
        // Returns on graceful shutdown, or at once if the group is cancelled: either way the store is closed.
        try? await gracefulShutdown()
        do {
            try await store.close()
            logger.debug("Event store closed")
        } catch {
            // What was not applied stays in the append log, which the next start applies.
            logger.warning("The event store did not close cleanly", metadata: ["error": "\(error)"])
        }
    }
}
