import CoreMetrics
import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Sends a resuming subscriber the stored events after its `Last-Event-ID`, page by page, then hands it over
/// to live delivery (see ``SubscriptionState`` for why nothing is lost or doubled).
struct StreamReplay: Sendable {
    /// Most events read from the store at once.
    static let pageSize = 2_000
    /// About how many bytes of events a page holds (the store stops at the event that reaches it): a replay holds
    /// at most two pages (one being written, the next read), so each resuming subscriber costs a few MiB, however
    /// large its events and its backlog, and all of them together at most `server.limits.replay_bytes`
    /// (``ReplayBudget``).
    static let pageBytes = 2 << 20

    /// Whether `page` was the store's last: it stopped neither at ``pageSize`` nor at ``pageBytes``.
    static func isLastPage(_ page: [Event]) -> Bool {
        page.count < pageSize && page.pageBytes < pageBytes
    }

    private enum Step: Sendable {
        case more(after: EventID)
        case done
    }

    /// What writing one page did: the next step, and when the page has reached the socket.
    private struct Delivery: Sendable {
        var step: Step
        var written: EventLoopFuture<Void>
    }

    private let subscriber: NIOLoopBound<StreamSubscriber>
    private let filter: TopicFilter
    private let store: any EventStore
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let budget: ReplayBudget
    /// `hookstream_events_delivered_total`: replayed events count as delivered, as live ones do.
    private let delivered: Counter
    /// `server.limits.replay_bytes` as it is now (a reload may change it).
    private let limit: @Sendable () -> Int

    init(
        subscriber: StreamSubscriber, store: any EventStore, eventLoop: any EventLoop, budget: ReplayBudget, limit: @escaping @Sendable () -> Int,
        delivered: Counter, logger: Logger
    ) {
        self.delivered = delivered
        self.budget = budget
        self.limit = limit
        self.subscriber = NIOLoopBound(subscriber, eventLoop: eventLoop)
        self.filter = subscriber.filter
        self.store = store
        self.eventLoop = eventLoop
        self.logger = logger
    }

    func start(after id: EventID, jobs: JobRunner) {
        let accepted = jobs.submit { await self.run(after: id) }
        if !accepted {
            subscriber.value.finish()
        }
    }

    private func run(after requested: EventID) async {
        do {
            let lastStored = try await store.lastEventID()
            let cursor = try await eventLoop.submit { () -> EventID in
                let subscriber = self.subscriber.value
                if subscriber.state.clampResumePoint(toAtMost: lastStored), !subscriber.isClosed {
                    // An id this store never handed out: a memory store restarted, a database restored from a
                    // backup, another server's id. Left as it is in the client, it would skip the events that get
                    // those ids here later without a word; the client is told, and its id set to the store's last.
                    self.logger.info(
                        "Resume point beyond the store's last event: sending hookstream.reset",
                        metadata: ["hookstream.last_event_id": "\(requested)", "hookstream.store_last_id": "\(lastStored)"])
                    subscriber.write(StreamFraming.unknownIDFrame(lastEventID: requested, storeLastID: lastStored), flush: true)
                }
                return subscriber.state.lastDeliveredID
            }.get()
            // Pages are counted against the server's replay budget from their read until they are written; whatever
            // is still counted when the replay ends (a page of a stream that closed, an error) is given back here.
            var held = 0
            defer { budget.release(held) }
            /// Waits until the page being written has reached the socket and gives its bytes back: whether the
            /// stream is still open.
            func written(_ delivery: Delivery, holding bytes: Int) async -> Bool {
                let isOpen = await StreamReplay.succeeds(delivery.written)
                budget.release(bytes)
                held -= bytes
                return isOpen
            }
            let firstReserved = await reserve()
            held += firstReserved
            var replayed = 0
            var pageStart = cursor
            var page = try await store.page(after: cursor, matching: filter, limit: StreamReplay.pageSize, maxBytes: StreamReplay.pageBytes)
            var pageHeld = settle(&held, reserved: firstReserved, page: page.events)
            var announced: EventID = 0
            while true {
                // Retention may delete events after the resume point before the replay reads them, and a page would
                // then just start later. The page comes with the retention mark of the moment it was read (the mark
                // rises with the delete): above the cursor, events the client never got were gone, and it is told,
                // before the page.
                announced = try await sendResetIfPruned(after: max(pageStart, announced), mark: page.prunedThrough)
                replayed += page.events.count
                let delivery: Delivery
                do {
                    // Encoded for the socket by `deliver`: the events themselves do not outlive this block (a replay
                    // that waits for room below must hold nothing).
                    let current = page.events
                    page.events = []
                    delivery = try await eventLoop.flatSubmit { self.deliver(current) }.get()
                }
                guard case .more(let cursor) = delivery.step else {
                    // The last page counts until it is written too, though the stream is live by now: a client that
                    // never takes it (an HTTP/2 stream given no window) would otherwise hold it outside the budget
                    // until its stream is cut for taking nothing.
                    _ = await written(delivery, holding: pageHeld)
                    break
                }
                // Read the next page while this one drains to the client, when the budget has room: a slow client
                // holds at most two pages. Otherwise this one is written first, and the wait for room holds none.
                var isOpen: Bool?
                let reserved: Int
                if let taken = budget.tryReserve(StreamReplay.pageBytes, limit: limit()) {
                    reserved = taken
                } else {
                    isOpen = await written(delivery, holding: pageHeld)
                    if isOpen == false { break }
                    reserved = await reserve()
                }
                held += reserved
                async let next = store.page(after: cursor, matching: filter, limit: StreamReplay.pageSize, maxBytes: StreamReplay.pageBytes)
                if isOpen == nil { isOpen = await written(delivery, holding: pageHeld) }
                page = try await next
                pageHeld = settle(&held, reserved: reserved, page: page.events)
                pageStart = cursor
                if isOpen == false { break }
            }
            logger.debug("Replay done", metadata: ["hookstream.replayed": "\(replayed)", "hookstream.after": "\(requested)"])
        } catch {
            logger.error("Replay failed; closing the stream so the client resumes later", metadata: ["error": "\(error)"])
            try? await eventLoop.submit { self.subscriber.value.finish() }.get()
        }
    }

    /// Whether `future` succeeds; `false` at once if the task is cancelled (a stop that ran out of time). The write to
    /// a client that reads nothing completes only when its connection closes, which a stop cannot hurry.
    private static func succeeds(_ future: EventLoopFuture<Void>) async -> Bool {
        let waiting = NIOLockedValueBox<CheckedContinuation<Bool, Never>?>(nil)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiting.withLockedValue { $0 = continuation }
                future.whenComplete { result in
                    let succeeded = if case .success = result { true } else { false }
                    waiting.withLockedValue { $0.take() }?.resume(returning: succeeded)
                }
                // Cancelled before the continuation was there for the handler to resume.
                if Task.isCancelled { waiting.withLockedValue { $0.take() }?.resume(returning: false) }
            }
        } onCancel: {
            waiting.withLockedValue { $0.take() }?.resume(returning: false)
        }
    }

    /// Room for a page in the replay budget, once there is.
    private func reserve() async -> Int {
        if let taken = budget.tryReserve(StreamReplay.pageBytes, limit: limit()) { return taken }
        logger.debug("Replay waiting: the pages of other replays fill server.limits.replay_bytes", metadata: ["limit": "\(limit())"])
        return await budget.reserve(StreamReplay.pageBytes, limit: limit())
    }

    /// Counts a page read under a reservation of `reserved` bytes as what it holds: the rest is given back, or what
    /// it holds beyond is taken (it is in memory already). Returns the page's count.
    private func settle(_ held: inout Int, reserved: Int, page: [Event]) -> Int {
        let bytes = page.pageBytes
        if bytes > reserved { budget.take(bytes - reserved) } else { budget.release(reserved - bytes) }
        held += bytes - reserved
        return bytes
    }

    /// Tells the client, in band, when retention removed events after `cursor` (its resume point, or the last gap
    /// told), as `prunedThrough` (the page's mark) says: it should refetch. Returns the mark told of, or `cursor` when
    /// there was nothing to tell.
    private func sendResetIfPruned(after cursor: EventID, mark prunedThrough: EventID) async throws -> EventID {
        guard cursor < prunedThrough else { return cursor }
        let oldest = try await store.events(after: prunedThrough, matching: filter, limit: 1).first?.id
        logger.info(
            "Resume point older than retention: sending hookstream.reset",
            metadata: ["hookstream.last_event_id": "\(cursor)", "hookstream.pruned_through": "\(prunedThrough)"])
        try await eventLoop.submit {
            let subscriber = self.subscriber.value
            guard !subscriber.isClosed else { return }
            subscriber.write(StreamFraming.resetFrame(lastEventID: cursor, oldestID: oldest), flush: true)
        }.get()
        return prunedThrough
    }

    /// On the loop: writes one page as a single write, and goes live when the page shows the replay caught up.
    private func deliver(_ page: [Event]) -> EventLoopFuture<Delivery> {
        let subscriber = self.subscriber.value
        let done = eventLoop.makeSucceededVoidFuture()
        guard !subscriber.isClosed else { return eventLoop.makeSucceededFuture(Delivery(step: .done, written: done)) }
        let fresh = subscriber.state.replayed(page)
        var written = done
        if !fresh.isEmpty {
            var payload = subscriber.channel.allocator.buffer(capacity: fresh.count * 128)
            for event in fresh { SSEEncoder.writeEvent(event, into: &payload) }
            written = subscriber.write(payload, flush: false)
            delivered.increment(by: Int64(fresh.count))
        }
        if StreamReplay.isLastPage(page) {
            guard let buffered = subscriber.state.finishReplay() else {
                // Live events were dropped while buffering: read the store again from where the client is.
                subscriber.flush()
                return eventLoop.makeSucceededFuture(Delivery(step: .more(after: subscriber.state.lastDeliveredID), written: written))
            }
            for event in buffered { subscriber.write(event.frame, flush: false) }
            subscriber.flush()
            return eventLoop.makeSucceededFuture(Delivery(step: .done, written: written))
        }
        subscriber.flush()
        return eventLoop.makeSucceededFuture(Delivery(step: .more(after: subscriber.state.lastDeliveredID), written: written))
    }
}
