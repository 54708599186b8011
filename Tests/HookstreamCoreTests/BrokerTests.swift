import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import HookstreamCore

/// A store whose appends finish in an order the test chooses, to show the broker still releases in id order.
/// An append to a `slow…` topic is held, synchronously, until the test opens its topic (or finishes at once if it
/// was opened before), so that nothing waits on a task the test does not control.
private final class GatedStore: EventStore {
    private let inner = MemoryEventStore()
    private let gates = NIOLockedValueBox<(held: [String: @Sendable () -> Void], opened: Set<String>)>(([:], []))

    func append(batches: [EventBatch], completion: @escaping @Sendable (Result<[[Event]], any Error>) -> Void) {
        let events = inner.appendNow(batches: batches)
        let topic = batches[0].drafts[0].topic
        let finish: @Sendable () -> Void = { completion(.success(events)) }
        guard topic.hasPrefix("slow") else { return finish() }
        let held = gates.withLockedValue { gates -> Bool in
            guard !gates.opened.contains(topic) else { return false }
            gates.held[topic] = finish
            return true
        }
        if !held { finish() }
    }

    func isWaiting(_ topic: String) -> Bool { gates.withLockedValue { $0.held[topic] != nil } }

    func open(_ topic: String) {
        let finish = gates.withLockedValue { gates in
            gates.opened.insert(topic)
            return gates.held.removeValue(forKey: topic)
        }
        finish?()
    }

    func events(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> [Event] {
        try await inner.events(after: id, matching: filter, limit: limit, maxBytes: maxBytes)
    }

    func lastEventID() async throws -> EventID { try await inner.lastEventID() }
    func prunedThrough(matching filter: TopicFilter) async throws -> EventID { 0 }
    func applyRetention(_ retention: Retention, now: Int64) async throws -> Int { 0 }
    func delivery(_ key: DeliveryKey, since: Int64) async throws -> DeliveryRecord? { nil }
}

private final class RecordingSink: EventSink {
    let ids = NIOLockedValueBox<[EventID]>([])
    func enqueue(_ events: [EncodedEvent]) { ids.withLockedValue { $0.append(contentsOf: events.map(\.id)) } }
}

@Suite struct BrokerTests {
    private func draft(_ topic: String) -> EventDraft {
        EventDraft(topic: topic, type: "t", data: .text("d"), source: "s", rule: "r")
    }

    @Test(.timeLimit(.minutes(1))) func sinksSeeIdsInOrderEvenWhenAppendsFinishOutOfOrder() async throws {
        let store = GatedStore()
        let broker = try await Broker(store: store, encode: { ByteBuffer(string: "\($0.id)") })
        let sink = RecordingSink()
        broker.addSink(sink)

        async let slow = broker.publish([draft("slow/1")])  // gets id 1, held in the store
        try await waitFor("the first append to reach the store") { store.isWaiting("slow/1") }
        let fast = try await broker.publish([draft("fast/2"), draft("fast/3")])  // ids 2 and 3 finish first
        #expect(fast.map(\.id) == [2, 3])
        #expect(sink.ids.withLockedValue { $0 }.isEmpty, "2 and 3 must wait for 1")
        store.open("slow/1")
        _ = try await slow
        #expect(sink.ids.withLockedValue { $0 } == [1, 2, 3])
    }

    @Test func batchesPublishedTogetherReachSinksInOrder() async throws {
        let broker = try await Broker(store: MemoryEventStore(), encode: { ByteBuffer(string: "\($0.id)") })
        let sink = RecordingSink()
        broker.addSink(sink)
        let numbered: [[Event]] = try await withCheckedThrowingContinuation { continuation in
            broker.publish(batches: [EventBatch([draft("a")]), EventBatch([draft("b"), draft("c")])]) { continuation.resume(with: $0) }
        }
        #expect(numbered.map { $0.map(\.id) } == [[1], [2, 3]])
        #expect(sink.ids.withLockedValue { $0 } == [1, 2, 3])
    }

    @Test func eachEventIsEncodedOnce() async throws {
        let count = NIOLockedValueBox(0)
        let broker = try await Broker(store: MemoryEventStore(), encode: { _ in count.withLockedValue { $0 += 1 }; return ByteBuffer() })
        for _ in 0..<3 { broker.addSink(RecordingSink()) }
        try await broker.publish([draft("a"), draft("b")])
        #expect(count.withLockedValue { $0 } == 2)
    }
}
