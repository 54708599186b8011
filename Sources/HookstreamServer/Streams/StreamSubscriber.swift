import HookstreamCore
import Logging
import NIOCore

/// One open event stream: its channel, its topics and its replay/live state. Lives on its channel's event loop
/// and is touched only there (the hub and the connection handler run on that loop).
final class StreamSubscriber {
    let context: ChannelHandlerContext
    let filter: TopicFilter
    /// The token's name, for logs.
    let tokenName: String
    var state: SubscriptionState
    /// Index in the hub's array, for O(1) removal.
    var slot = -1
    private(set) var isClosed = false
    /// Events written while the channel was over its high-water mark.
    private var backlog = 0
    private let backlogLimit: Int
    let logger: Logger

    init(context: ChannelHandlerContext, filter: TopicFilter, tokenName: String, resumingAfter lastEventID: EventID?, queue: Int, logger: Logger) {
        self.context = context
        self.filter = filter
        self.tokenName = tokenName
        self.state = SubscriptionState(resumingAfter: lastEventID, bufferLimit: queue)
        self.backlogLimit = queue
        self.logger = logger
    }

    /// Writes the events of one drain that this subscriber wants, then flushes once.
    ///
    /// Under pressure (the channel went over its high-water mark) it flushes early, so that only events the
    /// kernel cannot take count against the subscriber's queue; past the queue bound the subscriber is cut.
    func deliver(_ batch: [EncodedEvent]) {
        guard !isClosed else { return }
        var mustFlush = false
        for event in batch where filter.matches(segments: event.topicSegments) {
            guard state.offerLive(event) else { continue }
            context.write(NIOAny(event.frame), promise: nil)
            mustFlush = true
            if !context.channel.isWritable {
                context.flush()
                mustFlush = false
                if !context.channel.isWritable {
                    backlog += 1
                    if backlog > backlogLimit {
                        cut()
                        return
                    }
                }
            }
        }
        if mustFlush { context.flush() }
    }

    /// Writes a shared, pre-encoded comment chunk (heartbeat); skipped while the client is not reading.
    func writeHeartbeat(_ chunk: ByteBuffer) {
        guard !isClosed, context.channel.isWritable else { return }
        context.writeAndFlush(NIOAny(chunk), promise: nil)
    }

    /// The channel drained below its low-water mark: the client is reading again.
    func writabilityChanged(_ writable: Bool) {
        if writable { backlog = 0 }
    }

    /// Closes a subscriber that fell too far behind; it resumes by `Last-Event-ID` with nothing lost.
    private func cut() {
        logger.info(
            "Subscriber cut: it stopped reading and its queue is full; it can resume with Last-Event-ID",
            metadata: ["hookstream.token": "\(tokenName)", "hookstream.last_event_id": "\(state.lastDeliveredID)"])
        isClosed = true
        context.close(promise: nil)
    }

    /// Ends the stream cleanly (server shutdown): the terminating chunk, then close.
    func finish() {
        guard !isClosed else { return }
        isClosed = true
        let channel = context.channel
        context.writeAndFlush(NIOAny(StreamFraming.end)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func markClosed() { isClosed = true }
}
