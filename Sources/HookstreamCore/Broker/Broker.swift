public import NIOCore
import NIOConcurrencyHelpers

/// Publishes events: stores them, then hands each one, encoded once, to every sink in id order.
///
/// Concurrent publishers may finish their appends out of order; the broker holds back a batch until
/// every lower id has been handed on, so sinks (and subscribers) always see ids strictly increasing.
///
/// ```swift
/// let broker = try await Broker(store: MemoryEventStore(), encode: { event in ... })
/// broker.addSink(hub)
/// let events = try await broker.publish([draft])
/// ```
public final class Broker: Sendable {
    private struct Sequencer {
        var next: EventID
        var waiting: [EventID: [EncodedEvent]] = [:]
        var sinks: [any EventSink] = []
        /// With a shared store: the id up to which every event the store has was adopted or is waiting here, so an id
        /// at or below it that is not waiting was pruned before it was read, and is not waited for.
        var adoptedThrough: EventID = 0

        /// Whether `id` is in a waiting batch.
        func isWaiting(_ id: EventID) -> Bool {
            waiting.contains { key, batch in key <= id && id <= batch[batch.count - 1].id }
        }
    }

    /// The store events are appended to and replayed from.
    public let store: any EventStore
    private let encode: @Sendable (Event) -> ByteBuffer
    private let sequencer: NIOLockedValueBox<Sequencer>

    /// Creates a broker over `store`, continuing after the store's last id.
    /// - Parameters:
    ///   - store: where events are appended.
    ///   - encode: turns an event into the bytes every subscriber receives (called once per event).
    public init(store: any EventStore, encode: @escaping @Sendable (Event) -> ByteBuffer) async throws {
        self.store = store
        self.encode = encode
        let last = try await store.lastEventID()
        self.sequencer = NIOLockedValueBox(Sequencer(next: last + 1))
        self.isShared = store is any SharedEventStore
        if let shared = store as? any SharedEventStore {
            // Weak: the store holds these closures for its life, and must not keep a broker that is gone.
            shared.follow(from: { [weak self] in self?.releasedThrough ?? last }, deliver: { [weak self] events, through in
                self?.adopt(events, through: through)
            })
        }
    }

    /// Whether the store is shared with other processes, whose events come through ``adopt(_:through:)``.
    private let isShared: Bool

    /// The id of the last event released to the sinks (at first, the last one stored before this broker was made).
    public var releasedThrough: EventID {
        sequencer.withLockedValue { $0.next - 1 }
    }

    /// Registers a sink; it receives every event released from now on.
    public func addSink(_ sink: any EventSink) {
        sequencer.withLockedValue { $0.sinks.append(sink) }
    }

    /// Stores `drafts` as one batch and hands them to the sinks; returns them numbered.
    ///
    /// Returns once the store has accepted the events (durably, for durable stores); the hand-off to
    /// sinks only queues, so publishers never wait for subscribers.
    @discardableResult
    public func publish(_ drafts: [EventDraft]) async throws -> [Event] {
        try await withCheckedThrowingContinuation { continuation in
            publish(drafts) { continuation.resume(with: $0) }
        }
    }

    /// Stores `drafts` as one batch and hands them to the sinks; `completion` gets them numbered once stored.
    ///
    /// Batches are numbered in the order of the calls: a caller keeps an order by calling in that order.
    public func publish(_ drafts: [EventDraft], completion: @escaping @Sendable (Result<[Event], any Error>) -> Void) {
        guard !drafts.isEmpty else { return completion(.success([])) }
        publish(batches: [EventBatch(drafts)]) { result in completion(result.map { $0[0] }) }
    }

    /// Stores several batches together (one transaction in a durable store) and hands them to the sinks, which
    /// then see them in one drain; `completion` gets each batch numbered, in the order given.
    public func publish(batches: [EventBatch], completion: @escaping @Sendable (Result<[[Event]], any Error>) -> Void) {
        store.append(batches: batches) { result in
            // The batches of one call have consecutive ids: the sinks get them as one release.
            if case .success(let numbered) = result { self.release(numbered.count == 1 ? numbered[0] : numbered.flatMap { $0 }) }
            completion(result)
        }
    }

    private func release(_ events: [Event]) {
        guard let first = events.first else { return }
        var encoded = events.map { EncodedEvent(id: $0.id, topic: $0.topic, frame: encode($0)) }
        sequencer.withLockedValue { state in
            if first.id < state.next {
                guard isShared else {
                    // The store numbered below what was already released: it broke the contract; deliver anyway.
                    Broker.release(encoded, to: state.sinks)
                    return
                }
                // The store's listener read them first (they were committed before this process heard back).
                encoded.removeAll { $0.id < state.next }
                guard let rest = encoded.first else { return }
                state.waiting[rest.id] = encoded
            } else if first.id == state.next, state.waiting.isEmpty {
                // The usual release, the next events with nothing waiting: straight on, as `drain` would, without
                // going through the dictionary.
                Broker.release(encoded, to: state.sinks)
                state.next = encoded[encoded.count - 1].id + 1
                guard state.next <= state.adoptedThrough else { return }
            } else {
                state.waiting[first.id] = encoded
            }
            Broker.drain(&state)
        }
    }

    /// Hands on events another process appended to the shared store, in id order with this one's: `through` is the
    /// id up to which `events` (with those appended here) are every event the store has.
    private func adopt(_ events: [Event], through: EventID) {
        let encoded = events.map { EncodedEvent(id: $0.id, topic: $0.topic, frame: encode($0)) }
        sequencer.withLockedValue { state in
            for event in encoded where event.id >= state.next && !state.isWaiting(event.id) {
                state.waiting[event.id] = [event]
            }
            state.adoptedThrough = max(state.adoptedThrough, through)
            Broker.drain(&state)
        }
    }

    /// Releases the waiting batches that follow on from what was released, in id order. Past ids that a shared store
    /// no longer has (pruned before this process read them) it moves on, since nothing will come for them, and tells
    /// the sinks (``EventSink/eventsMissed(after:through:)``).
    private static func drain(_ state: inout Sequencer) {
        while true {
            if let batch = state.waiting.removeValue(forKey: state.next) {
                release(batch, to: state.sinks)
                state.next = batch[batch.count - 1].id + 1
            } else if state.next <= state.adoptedThrough {
                let nextWaiting = state.waiting.keys.filter { $0 > state.next }.min() ?? .max
                let missedAfter = state.next - 1
                state.next = min(nextWaiting, state.adoptedThrough + 1)
                for sink in state.sinks { sink.eventsMissed(after: missedAfter, through: state.next - 1) }
                if state.waiting[state.next] == nil { break }
            } else {
                break
            }
        }
        if !state.waiting.isEmpty, state.adoptedThrough > 0 {
            // An adopted event that a batch appended here covered too (both were read): drop what was passed.
            let passed = state.next
            state.waiting = state.waiting.filter { $0.value[$0.value.count - 1].id >= passed }
        }
    }

    private static func release(_ batch: [EncodedEvent], to sinks: [any EventSink]) {
        for sink in sinks { sink.enqueue(batch) }
    }
}
