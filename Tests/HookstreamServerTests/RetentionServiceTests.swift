import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import HookstreamServer

@Suite struct RetentionServiceTests {
    /// A publish `id` (POST /publish) is remembered for a day, then forgotten, also when no webhook source
    /// deduplicates (then the sources name no delivery window at all, and publish ids used to be kept for good).
    @Test func publishIDsAreForgottenAfterADayWithoutDedupingSources() async throws {
        let clock = NIOLockedValueBox<Int64>(1_000_000_000)
        let store = MemoryEventStore(now: { clock.withLockedValue { $0 } })
        let key = DeliveryKey(source: "publish", id: "order-7")
        _ = store.appendNow(batches: [EventBatch([EventDraft(topic: "t", type: "message", data: .text("x"), source: "publish", rule: "publish")], delivery: key)])
        let configuration = Configuration()
        #expect(configuration.deliveryRetention == nil, "no source deduplicates")
        let service = RetentionService(
            store: store, settings: { configuration }, clock: ContinuousClock(), logger: Logger(label: "test"), now: { clock.withLockedValue { $0 } })

        clock.withLockedValue { $0 += 23 * 3_600_000 }
        await service.pruneOnce()
        #expect(try await store.delivery(key, since: 0) != nil, "kept within the day")
        clock.withLockedValue { $0 += 2 * 3_600_000 }
        await service.pruneOnce()
        #expect(try await store.delivery(key, since: 0) == nil, "forgotten after it")
    }
}
