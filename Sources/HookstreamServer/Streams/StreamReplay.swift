import HookstreamCore
import Logging
import NIOCore

/// Sends a resuming subscriber the stored events after its `Last-Event-ID`, page by page, then hands it over
/// to live delivery (see ``SubscriptionState`` for why nothing is lost or doubled).
struct StreamReplay: Sendable {
    static let pageSize = 500

    private enum Step: Sendable {
        case more(after: EventID)
        case done
    }

    private let subscriber: NIOLoopBound<StreamSubscriber>
    private let filter: TopicFilter
    private let store: any EventStore
    private let eventLoop: any EventLoop
    private let logger: Logger

    init(subscriber: StreamSubscriber, store: any EventStore, eventLoop: any EventLoop, logger: Logger) {
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
            var step = try await eventLoop.submit { () -> Step in
                let subscriber = self.subscriber.value
                subscriber.state.clampResumePoint(toAtMost: lastStored)
                return .more(after: subscriber.state.lastDeliveredID)
            }.get()
            if case .more(let cursor) = step {
                let prunedThrough = try await store.prunedThrough(matching: filter)
                if cursor < prunedThrough {
                    let oldest = try await store.events(after: prunedThrough, matching: filter, limit: 1).first?.id
                    logger.info(
                        "Resume point older than retention: sending hookstream.reset",
                        metadata: ["hookstream.last_event_id": "\(cursor)", "hookstream.pruned_through": "\(prunedThrough)"])
                    try await eventLoop.submit {
                        let subscriber = self.subscriber.value
                        guard !subscriber.isClosed else { return }
                        subscriber.context.writeAndFlush(NIOAny(StreamFraming.resetChunk(lastEventID: cursor, oldestID: oldest)), promise: nil)
                    }.get()
                }
            }
            var replayed = 0
            while case .more(let cursor) = step {
                let page = try await store.events(after: cursor, matching: filter, limit: StreamReplay.pageSize)
                replayed += page.count
                step = try await eventLoop.flatSubmit { self.deliver(page) }.get()
            }
            logger.debug("Replay done", metadata: ["hookstream.replayed": "\(replayed)", "hookstream.after": "\(requested)"])
        } catch {
            logger.error("Replay failed; closing the stream so the client resumes later", metadata: ["error": "\(error)"])
            try? await eventLoop.submit { self.subscriber.value.finish() }.get()
        }
    }

    /// On the loop: writes one page, and goes live when the page shows the replay has caught up.
    private func deliver(_ page: [Event]) -> EventLoopFuture<Step> {
        let subscriber = self.subscriber.value
        guard !subscriber.isClosed else { return eventLoop.makeSucceededFuture(.done) }
        let context = subscriber.context
        var lastWrite: EventLoopFuture<Void>?
        for event in subscriber.state.replayed(page) {
            lastWrite = context.write(NIOAny(StreamFraming.eventChunk(event)))
        }
        if page.count < StreamReplay.pageSize {
            guard let buffered = subscriber.state.finishReplay() else {
                // Live events were dropped while buffering: read the store again from where the client is.
                context.flush()
                return eventLoop.makeSucceededFuture(.more(after: subscriber.state.lastDeliveredID))
            }
            for event in buffered { context.write(NIOAny(event.frame), promise: nil) }
            context.flush()
            return eventLoop.makeSucceededFuture(.done)
        }
        context.flush()
        let next = Step.more(after: subscriber.state.lastDeliveredID)
        // Wait until the page has reached the socket before reading the next one: a slow client bounds memory.
        return (lastWrite ?? eventLoop.makeSucceededVoidFuture()).map { next }.recover { _ in .done }
    }
}
