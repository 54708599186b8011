import HookstreamCore
import Logging
import ServiceLifecycle
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Prunes the store on a period: events past `store.retention` (count per topic, age), and remembered webhook
/// deliveries past their window, are removed in short transactions, so publishers never wait long. The settings
/// are read on every pass, so a reload changes them; one that changes the period wakes the wait (``wake``).
final class RetentionService<C: Clock>: Service, Sendable where C.Duration == Duration {
    /// Signalled when the period changes: the next pass runs at once, and waits the new period after it.
    let wake = RetentionWake()
    private let store: any EventStore
    private let settings: @Sendable () -> Configuration
    private let clock: C
    private let now: @Sendable () -> Int64
    private let logger: Logger

    init(
        store: any EventStore, settings: @escaping @Sendable () -> Configuration, clock: C, logger: Logger,
        now: @escaping @Sendable () -> Int64 = WallClock.milliseconds
    ) {
        self.store = store
        self.settings = settings
        self.clock = clock
        self.now = now
        self.logger = logger
    }

    func run() async {
        let clock = self.clock
        let wake = self.wake
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // A long pass (a reload that lowered max_events, a burst of thousands of events a second) must not outlast
            // the stop's bound: it ends between two of its short transactions.
            await cancelWhenGracefulShutdown { await self.pruneOnce() }
            let interval = settings().store.pruneInterval
            // Until the period has passed or a reload changed it, whichever comes first.
            await cancelWhenGracefulShutdown {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { try? await clock.sleep(for: interval) }
                    group.addTask { await wake.wait() }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    /// One pass; failures are logged and retried on the next period.
    func pruneOnce() async {
        let configuration = settings()
        var retention = configuration.store.retention
        // Publish ids (POST /publish's "id") are deliveries too, remembered for a day whatever the sources say.
        retention.deliveryMaxAge = max(configuration.deliveryRetention ?? .zero, PublishEndpoint.idempotencyWindow)
        do {
            let removed = try await store.applyRetention(retention, now: now())
            if removed > 0 { logger.info("Retention pruned events", metadata: ["hookstream.pruned": "\(removed)"]) }
        } catch is CancellationError {
            logger.info("Retention pass ended by the stop; the next start's pass goes on from there")
        } catch {
            logger.error("Retention failed; it will be retried", metadata: ["error": "\(error)"])
        }
    }
}
