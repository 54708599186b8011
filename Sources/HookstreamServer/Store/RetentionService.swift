import HookstreamCore
import Logging
import ServiceLifecycle
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Prunes the store on a period: events past `store.retention` (count per topic, age) are removed in short
/// transactions, so publishers never wait long.
final class RetentionService<C: Clock>: Service, Sendable where C.Duration == Duration {
    private let store: any EventStore
    private let retention: Retention
    private let interval: Duration
    private let clock: C
    private let now: @Sendable () -> Int64
    private let logger: Logger

    init(
        store: any EventStore, retention: Retention, interval: Duration, clock: C, logger: Logger,
        now: @escaping @Sendable () -> Int64 = WallClock.milliseconds
    ) {
        self.store = store
        self.retention = retention
        self.interval = interval
        self.clock = clock
        self.now = now
        self.logger = logger
    }

    func run() async {
        let clock = self.clock
        let interval = self.interval
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await pruneOnce()
            do {
                try await cancelWhenGracefulShutdown { try await clock.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// One pass; failures are logged and retried on the next period.
    func pruneOnce() async {
        do {
            let removed = try await store.applyRetention(retention, now: now())
            if removed > 0 { logger.info("Retention pruned events", metadata: ["hookstream.pruned": "\(removed)"]) }
        } catch {
            logger.error("Retention failed; it will be retried", metadata: ["error": "\(error)"])
        }
    }
}
