import Logging
import NIOConcurrencyHelpers
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An ``EventStore`` in memory, bounded per topic. Nothing survives a restart.
public final class MemoryEventStore: EventStore {
    private struct State {
        var lastID: EventID = 0
        var topics: [String: TopicLog] = [:]
        var deliveries: [DeliveryKey: DeliveryRecord] = [:]
        /// The marks of topics retention forgot (they had no event left), kept apart from ``topics`` so that reads and
        /// retention passes do not walk them; a topic that comes back takes its mark again.
        var forgotten: [String: EventID] = [:]
        /// The highest mark folded out of ``forgotten`` (``Retention/forgottenTopicMarks``): a mark of every topic.
        var forgottenFloor: EventID = 0
    }

    /// One topic's events in id order; the oldest are dropped past the bound.
    private struct TopicLog {
        var events: [Event] = []
        var head = 0
        /// The highest id dropped from this topic.
        var prunedThrough: EventID = 0

        var count: Int { events.count - head }

        /// How many of the oldest events kept, at least one and at most `maximum`, have ids below `limit` (the first
        /// counts whatever its id).
        func countFromOldest(atMost maximum: Int, below limit: EventID) -> Int {
            var run = 1
            while run < maximum, head + run < events.count, events[head + run].id < limit { run += 1 }
            return run
        }

        /// The id of the oldest event kept, if any is.
        var firstID: EventID? { head < events.count ? events[head].id : nil }

        mutating func append(_ event: Event, bound: Int) {
            events.append(event)
            if count > bound { drop(count - bound) }
        }

        /// Drops the `n` oldest events.
        mutating func drop(_ n: Int) {
            guard n > 0 else { return }
            head += n
            prunedThrough = events[head - 1].id
            // Compact once the dropped prefix outweighs the live part, keeping appends amortised O(1).
            if head > 64, head > events.count / 2 {
                events.removeFirst(head)
                head = 0
            }
        }

        /// Drops events older than `cutoff`; returns how many.
        mutating func drop(olderThan cutoff: Int64) -> Int {
            var n = 0
            while head + n < events.count, events[head + n].timestamp < cutoff { n += 1 }
            drop(n)
            return n
        }

        func events(after id: EventID, limit: Int) -> ArraySlice<Event> {
            var low = head
            var high = events.count
            while low < high {
                let mid = (low + high) / 2
                if events[mid].id <= id { low = mid + 1 } else { high = mid }
            }
            return events[low..<min(events.count, low + limit)]
        }
    }

    private let state = NIOLockedValueBox(State())
    private let maximumEventsPerTopic: Int
    private let logger: Logger?
    private let now: @Sendable () -> Int64

    /// Creates an empty store.
    /// - Parameters:
    ///   - maximumEventsPerTopic: how many events each topic keeps; older ones are dropped.
    ///   - logger: where retention tells that the store's bound (`max_events`) pruned events of every topic.
    ///   - now: the wall clock in milliseconds since the epoch (a seam for tests).
    public init(
        maximumEventsPerTopic: Int = 10_000,
        logger: Logger? = nil,
        now: @escaping @Sendable () -> Int64 = WallClock.milliseconds
    ) {
        precondition(maximumEventsPerTopic > 0)
        self.maximumEventsPerTopic = maximumEventsPerTopic
        self.logger = logger
        self.now = now
    }

    public func append(batches: [EventBatch], completion: @escaping @Sendable (Result<[[Event]], any Error>) -> Void) {
        completion(.success(appendNow(batches: batches)))
    }

    /// The synchronous body of ``append(batches:completion:)``.
    public func appendNow(batches: [EventBatch]) -> [[Event]] {
        let timestamp = now()
        let bound = maximumEventsPerTopic
        return state.withLockedValue { state in
            batches.map { batch in
                var stored: [Event] = []
                stored.reserveCapacity(batch.drafts.count)
                for draft in batch.drafts {
                    state.lastID += 1
                    let event = Event(id: state.lastID, draft: draft, timestamp: timestamp)
                    // A forgotten topic comes back with its mark (one lookup per event while none is forgotten).
                    if !state.forgotten.isEmpty, state.topics[draft.topic] == nil, let mark = state.forgotten.removeValue(forKey: draft.topic) {
                        state.topics[draft.topic] = TopicLog(prunedThrough: mark)
                    }
                    state.topics[draft.topic, default: TopicLog()].append(event, bound: bound)
                    stored.append(event)
                }
                if let delivery = batch.delivery, !stored.isEmpty {
                    state.deliveries[delivery] = DeliveryRecord(events: stored, time: timestamp)
                }
                return stored
            }
        }
    }

    public func delivery(_ key: DeliveryKey, since: Int64) async throws -> DeliveryRecord? {
        state.withLockedValue { state in state.deliveries[key].flatMap { $0.time >= since ? $0 : nil } }
    }

    public func events(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> [Event] {
        state.withLockedValue { MemoryEventStore.events(in: $0, after: id, matching: filter, limit: limit, maxBytes: maxBytes) }
    }

    /// The page and the mark under one hold of the lock: the mark is the one the page was read with.
    public func page(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> ReplayPage {
        state.withLockedValue { state in
            ReplayPage(
                events: MemoryEventStore.events(in: state, after: id, matching: filter, limit: limit, maxBytes: maxBytes),
                prunedThrough: MemoryEventStore.prunedThrough(in: state, matching: filter))
        }
    }

    private static func events(in state: State, after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) -> [Event] {
        guard limit > 0, maxBytes > 0 else { return [] }
        var found: [Event] = []
        for (topic, log) in state.topics where filter.matches(topic) {
            found.append(contentsOf: log.events(after: id, limit: limit))
        }
        found.sort { $0.id < $1.id }
        if found.count > limit { found.removeSubrange(limit...) }
        // The events share the store's storage; the budget bounds what a caller makes of them (a replay's page).
        return found.prefix(bytes: maxBytes)
    }

    /// Topics the store holds events of, for tests.
    var topicCount: Int { state.withLockedValue { $0.topics.count } }

    public func lastEventID() async throws -> EventID {
        state.withLockedValue { $0.lastID }
    }

    /// The highest id dropped from a topic `filter` matches, forgotten topics included.
    public func prunedThrough(matching filter: TopicFilter) async throws -> EventID {
        state.withLockedValue { MemoryEventStore.prunedThrough(in: $0, matching: filter) }
    }

    private static func prunedThrough(in state: State, matching filter: TopicFilter) -> EventID {
        var highest = state.forgotten.reduce(state.forgottenFloor) { filter.matches($1.key) ? max($0, $1.value) : $0 }
        for (topic, log) in state.topics where filter.matches(topic) { highest = max(highest, log.prunedThrough) }
        return highest
    }

    @discardableResult
    public func applyRetention(_ retention: Retention, now: Int64) async throws -> Int {
        let cutoff = retention.cutoff(now: now)
        let deliveryCutoff = retention.deliveryCutoff(now: now)
        return state.withLockedValue { state in
            if let deliveryCutoff { state.deliveries = state.deliveries.filter { $0.value.time >= deliveryCutoff } }
            var removed = 0
            var total = 0
            for topic in state.topics.keys {
                if let cutoff { removed += state.topics[topic]!.drop(olderThan: cutoff) }
                let excess = state.topics[topic]!.count - retention.maxEventsPerTopic
                if excess > 0 {
                    state.topics[topic]!.drop(excess)
                    removed += excess
                }
                total += state.topics[topic]!.count
            }
            if let maxEvents = retention.maxEvents, total > maxEvents {
                let dropped = MemoryEventStore.dropOldest(total - maxEvents, from: &state.topics)
                removed += dropped
                logger?.notice(
                    "Retention pruned the oldest events, across topics, past store.retention.max_events",
                    metadata: ["max_events": "\(maxEvents)", "hookstream.pruned": "\(dropped)"])
            }
            // A topic with no event left is forgotten (one topic per user would otherwise be walked by every read and
            // every pass, for good); only its mark is kept, for resumes.
            for topic in state.topics.compactMap({ $0.value.count == 0 ? $0.key : nil }) {
                state.forgotten[topic] = state.topics[topic]!.prunedThrough
                state.topics[topic] = nil
            }
            // Past the marks kept, the lowest fold into one for every topic (a resume from before it may hear of a gap
            // it did not have, rather than the store keeping every topic it ever had).
            if state.forgotten.count > retention.forgottenTopicMarks {
                var lowest = MinHeap(state.forgotten.map { ($0.value, $0.key) }, by: { $0.0 < $1.0 })
                for _ in 0..<(state.forgotten.count - retention.forgottenTopicMarks) {
                    guard let (mark, topic) = lowest.popMin() else { break }
                    state.forgottenFloor = max(state.forgottenFloor, mark)
                    state.forgotten[topic] = nil
                }
            }
            return removed
        }
    }

    /// Drops the `excess` oldest events across all topics (`store.retention.max_events`), in id order: a merge of the
    /// topics' oldest events, so a pass costs its topics and what it drops, not every event kept.
    private static func dropOldest(_ excess: Int, from topics: inout [String: TopicLog]) -> Int {
        var oldest = MinHeap(topics.compactMap { topic, log in log.firstID.map { ($0, topic) } }, by: { $0.0 < $1.0 })
        var dropped = 0
        while dropped < excess, let (_, topic) = oldest.popMin() {
            // This topic's oldest event goes, with those after it that are older than every other topic's oldest.
            let limit = oldest.first?.0 ?? EventID.max
            let run = topics[topic]!.countFromOldest(atMost: excess - dropped, below: limit)
            topics[topic]!.drop(run)
            dropped += run
            if let next = topics[topic]!.firstID { oldest.insert((next, topic)) }
        }
        return dropped
    }
}
