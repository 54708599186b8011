import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import CoreMetrics

/// The subscribers of one event loop, and the queue through which the broker reaches them.
///
/// Publishing appends to a small lock-guarded queue and schedules at most one drain on the loop; a drain
/// writes every queued event to each subscriber and flushes once per subscriber, so under load one `writev`
/// carries many events. The subscriber array is touched only on the loop.
final class StreamHub: EventSink, @unchecked Sendable {
    let eventLoop: any EventLoop
    private let lock = NIOLock()
    private var pending: [EncodedEvent] = []  // guarded by lock
    /// Where in `pending` events were missed (``eventsMissed(after:through:)``), and the last id missed there: the
    /// streams open then are ended before the event at that place.
    private var pendingGaps: [(at: Int, through: EventID)] = []  // guarded by lock
    private var isDrainScheduled = false  // guarded by lock
    private var batch: [EncodedEvent] = []  // on loop
    private var gaps: [(at: Int, through: EventID)] = []  // on loop
    private var groups: [TopicFilter: SubscriberGroup] = [:]  // on loop
    /// One group's events of a drain; kept to reuse its storage, where a new array was allocated for every drain.
    private var matching: [EncodedEvent] = []  // on loop
    private var heartbeatTask: RepeatedTask?  // on loop
    private var heartbeatPeriod: Duration?  // on loop
    private var isShutDown = false  // on loop
    /// The id of the last event this hub has drained (or, before its first drain, the last released before it was
    /// made): a stream added now gets every event after it, live. Told to each new stream as its `id:`, so that one
    /// which has had no event yet still resumes from where it started.
    private(set) var drainedThrough: EventID  // on loop
    /// HTTP/2 connections' flushes held during a drain or heartbeat, so that streams sharing a connection share a flush.
    let heldFlushes = HeldFlushes()  // on loop
    private let metrics: ServerMetrics

    /// - Parameter releasedThrough: the broker's last released event when the hub is made (before it is added to the
    ///   broker, and before anything is published).
    init(eventLoop: any EventLoop, metrics: ServerMetrics, releasedThrough: EventID) {
        self.eventLoop = eventLoop
        self.metrics = metrics
        self.drainedThrough = releasedThrough
    }

    func enqueue(_ events: [EncodedEvent]) {
        let mustSchedule: Bool = lock.withLock {
            pending.append(contentsOf: events)
            if isDrainScheduled { return false }
            isDrainScheduled = true
            return true
        }
        if mustSchedule {
            eventLoop.execute { self.drain() }
        }
    }

    /// Events of other instances were pruned from the shared store before this instance read them: every stream open
    /// now is owed them, and is ended once it has what came before (each resumes by `Last-Event-ID`, and its replay
    /// sends a `hookstream.reset` if its topics lost events). Streams opened once the hub has passed the gap start
    /// after `last`.
    func eventsMissed(after id: EventID, through last: EventID) {
        let mustSchedule: Bool = lock.withLock {
            pendingGaps.append((pending.count, last))
            if isDrainScheduled { return false }
            isDrainScheduled = true
            return true
        }
        if mustSchedule {
            eventLoop.execute { self.drain() }
        }
    }

    private func drain() {
        lock.withLock {
            swap(&pending, &batch)
            swap(&pendingGaps, &gaps)
            isDrainScheduled = false
        }
        if gaps.isEmpty {
            deliver(batch[...])
        } else {
            var start = 0
            for (index, gap) in gaps.enumerated() {
                deliver(batch[start..<gap.at])
                // Once per drain: streams are added between drains, and per-topic retention leaves many holes.
                if index == 0 { endStreamsOwedMissedEvents() }
                drainedThrough = max(drainedThrough, gap.through)
                start = gap.at
            }
            deliver(batch[start...])
            gaps.removeAll(keepingCapacity: true)
        }
        batch.removeAll(keepingCapacity: true)
    }

    /// Writes `events` to every subscriber whose topics they match: one write per subscriber.
    private func deliver(_ events: ArraySlice<EncodedEvent>) {
        // Released in id order, so the last is the highest (but a store that numbered below what was released,
        // which the broker delivers anyway, must not move it back).
        guard let last = events.last else { return }
        drainedThrough = max(drainedThrough, last.id)
        var deliveries = 0
        heldFlushes.holding {
            for group in groups.values {
                matching.removeAll(keepingCapacity: true)
                for event in events where group.filter.matches(segments: event.topicSegments) { matching.append(event) }
                guard !matching.isEmpty else { continue }
                // One buffer for the whole drain, shared by the group: one write per subscriber per drain.
                let matching = self.matching
                let coalesced = StreamHub.coalesce(matching)
                let firstID = matching[0].id
                let lastID = matching[matching.count - 1].id
                for subscriber in group.members {
                    subscriber.deliver(matching, firstID: firstID, lastID: lastID, coalesced: coalesced)
                }
                deliveries += matching.count * group.members.count
            }
        }
        // The storage stays for the next drain; the events (their frames) go now.
        matching.removeAll(keepingCapacity: true)
        if deliveries > 0 { metrics.eventsDelivered.increment(by: Int64(deliveries)) }
    }

    /// Ends every open stream, each told to come back within a second (`retry:`, drawn at random so that they do not
    /// all come back at once).
    private func endStreamsOwedMissedEvents() {
        for group in groups.values {
            for subscriber in group.members where !subscriber.isClosed {
                subscriber.logger.info(
                    "Stream ended: events of other instances were pruned before this one read them; it can resume with Last-Event-ID",
                    metadata: ["hookstream.last_event_id": "\(subscriber.state.lastDeliveredID)"])
                subscriber.end(with: StreamFraming.retryFrame(milliseconds: Int.random(in: 0..<1_000)))
            }
        }
    }

    private static func coalesce(_ events: [EncodedEvent]) -> ByteBuffer {
        if events.count == 1 { return events[0].frame }
        var size = 0
        for event in events { size += event.frame.readableBytes }
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        for event in events { buffer.writeImmutableBuffer(event.frame) }
        return buffer
    }

    /// Adds a subscriber (on the loop). Returns `false` when the hub has shut down.
    func add(_ subscriber: StreamSubscriber) -> Bool {
        eventLoop.assertInEventLoop()
        guard !isShutDown else { return false }
        let group: SubscriberGroup
        if let existing = groups[subscriber.filter] {
            group = existing
        } else {
            group = SubscriberGroup(filter: subscriber.filter)
            groups[subscriber.filter] = group
        }
        subscriber.slot = group.members.count
        group.members.append(subscriber)
        metrics.streamOpened()
        return true
    }

    /// Removes a subscriber (on the loop), in O(1).
    func remove(_ subscriber: StreamSubscriber) {
        eventLoop.assertInEventLoop()
        guard let group = groups[subscriber.filter] else { return }
        let i = subscriber.slot
        guard i >= 0, i < group.members.count, group.members[i] === subscriber else { return }
        let last = group.members.removeLast()
        if i < group.members.count {
            group.members[i] = last
            last.slot = i
        }
        subscriber.slot = -1
        if group.members.isEmpty { groups[subscriber.filter] = nil }
        metrics.streamClosed()
    }

    /// Starts the heartbeat, or changes its period: one shared comment frame written to every subscriber of the
    /// loop each period.
    func startHeartbeat(every period: Duration) {
        eventLoop.execute {
            guard !self.isShutDown, period != self.heartbeatPeriod else { return }
            self.heartbeatTask?.cancel()
            self.heartbeatPeriod = period
            let frame = StreamFraming.commentFrame("heartbeat")
            let interval = TimeAmount.nanoseconds(period.nanoseconds)
            self.heartbeatTask = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.heldFlushes.holding(events: false) {
                    for group in self.groups.values {
                        for subscriber in group.members { subscriber.writeHeartbeat(frame) }
                    }
                }
            }
        }
    }

    /// Ends every stream whose credential no longer grants its topics (after a reload); returns how many. The
    /// credentials are checked off the loop (a JWT check is asynchronous), then the streams that lost their grant
    /// are ended on it.
    func revokeStreams(grantedBy authenticator: Authenticator) async -> Int {
        let now = WallClock.milliseconds()
        return await revokeStreams { credential, filter in await authenticator.grants(secret: credential, filter: filter, now: now) }
    }

    /// Ends every stream open now whose credential `grants` (checked once per credential and topics) no longer
    /// allows its topics, if it is still open once checked; returns how many.
    ///
    /// The streams themselves are carried across the checks (bound to the loop), not their `ObjectIdentifier`s: a
    /// stream that closes meanwhile is freed, and one opened meanwhile can take its address, so an identifier would
    /// end a stream that was never checked.
    func revokeStreams(grantedBy grants: (_ credential: String, _ filter: TopicFilter) async -> Bool) async -> Int {
        typealias Open = (subscriber: NIOLoopBound<StreamSubscriber>, credential: String, filter: TopicFilter)
        guard
            let open = try? await eventLoop.submit({ () -> [Open] in
                self.groups.values.flatMap { group in
                    group.members.filter { !$0.isClosed }.map { (NIOLoopBound($0, eventLoop: self.eventLoop), $0.credential, $0.filter) }
                }
            }).get()
        else { return 0 }
        var revoked: [NIOLoopBound<StreamSubscriber>] = []
        var verdicts: [String: Bool] = [:]  // many streams share a credential and topics: check each pair once
        for stream in open {
            let key = "\(stream.credential)\u{0}\(stream.filter.patterns.map(\.description))"
            let granted: Bool
            if let known = verdicts[key] {
                granted = known
            } else {
                granted = await grants(stream.credential, stream.filter)
                verdicts[key] = granted
            }
            if !granted { revoked.append(stream.subscriber) }
        }
        guard !revoked.isEmpty else { return 0 }
        let ending = revoked
        return (try? await eventLoop.submit { () -> Int in
            var ended = 0
            // Those that closed meanwhile (their client left, or they were cut) are left alone.
            for subscriber in ending.lazy.map(\.value) where !subscriber.isClosed {
                subscriber.logger.info("Stream ended: after the reload its token no longer grants its topics")
                subscriber.end(with: StreamFraming.revokedFrame)
                ended += 1
            }
            return ended
        }.get()) ?? 0
    }

    /// How many streams of this loop read `topic` (an event published there is handed to each).
    func countSubscribers(reading topic: String) -> EventLoopFuture<Int> {
        let segments = topic.split(separator: "/", omittingEmptySubsequences: false)
        return eventLoop.submit {
            self.groups.values.reduce(0) { count, group in
                group.filter.matches(segments: segments) ? count + group.members.filter { !$0.isClosed }.count : count
            }
        }
    }

    /// Ends every stream of this loop and refuses new ones. Each stream is told first to reconnect after a delay
    /// drawn at random from `0..<drain` (`retry:`), so clients come back spread over that time.
    func shutdown(drain: Duration) -> EventLoopFuture<Void> {
        eventLoop.submit {
            self.isShutDown = true
            self.heartbeatTask?.cancel()
            self.heartbeatTask = nil
            let all = self.groups.values.flatMap(\.members)
            self.groups.removeAll()
            for subscriber in all {
                subscriber.slot = -1
                self.metrics.streamClosed()
                // Within the second: the graceful stop allows 1.5 s, and a client that does not read must not outlast it.
                subscriber.end(with: StreamFraming.retryFrame(milliseconds: StreamHub.reconnectDelay(within: drain)), closingWithin: .seconds(1))
            }
        }
    }

    /// A delay drawn at random within `drain`, in milliseconds, for a stream told to reconnect at a stop; never under
    /// a quarter of a second, even when `drain` is shorter. Browsers keep a stream's `retry:` for every attempt until
    /// a stream sends another, and do not back off: one told 3 ms would try that often while no server listens.
    static func reconnectDelay(within drain: Duration) -> Int {
        Int.random(in: minimumReconnectDelay...max(minimumReconnectDelay, Int(drain.milliseconds)))
    }

    /// The shortest `retry:` a stop gives, in milliseconds.
    static let minimumReconnectDelay = 250
}
