import HookstreamCore
import Logging
import NIOCore

/// One open event stream: its channel, its topics and its replay/live state. Lives on its channel's event loop
/// and is touched only there (the hub and the connection handler run on that loop).
final class StreamSubscriber {
    // The fields a delivery reads come first, so that they share the object's first cache lines: with sparse
    // events every subscriber is a cache miss per drain, and the fewer lines, the cheaper.

    /// Where stream bytes go when they go through NIO (see ``send(_:)`` for when): the channel's core, which is
    /// exactly where the pipeline's head would pass them, since nothing between the connection handler and the head writes (``HTTPServer`` builds the
    /// pipeline: a request decoder, inbound only, then the connection handler). Going through the pipeline
    /// touches four more objects per subscriber per drain, each a cache miss when events are sparse: measured,
    /// about a tenth of the server's CPU at 100 subscribers × 200 events/s.
    private let core: any ChannelCore
    /// The kernel socket, while frames may be sent to it directly (see ``StreamSocket``); `nil` when it could not
    /// be found, or once a write through NIO failed.
    private var socket: StreamSocket?
    /// Whether NIO may still hold bytes of this stream: from a write through NIO until a barrier behind it (an
    /// empty write, whose promise NIO completes once everything before it has reached the kernel) completes with
    /// nothing written after it. Meanwhile every frame goes through NIO too, behind those bytes: a direct send
    /// would overtake them and cut into a frame. One barrier at a time, so a subscriber that stops reading
    /// costs one promise, not one per frame.
    private var channelHoldsBytes = false
    /// Writes through NIO since the current barrier.
    private var writesAfterBarrier = 0
    private(set) var isClosed = false
    /// Whether the stream was cut for falling behind (rather than closed by either side).
    private(set) var wasCut = false
    /// The channel's writability, as its handler last reported it (NIO reports a change synchronously, inside the
    /// write that crossed a water mark): reading it here spares a call into the channel per delivery.
    private var isWritable: Bool
    /// Events written while the channel was over its high-water mark.
    private var backlog = 0
    var state: SubscriptionState
    let context: ChannelHandlerContext
    /// The context's channel, kept so a delivery does not go through the pipeline object to reach it.
    let channel: any Channel
    let filter: TopicFilter
    /// The secret the stream was opened with: a reload checks that it still grants ``filter``.
    let credential: String
    /// Whose stream it is, for the per-token stream count.
    let identity: String
    /// The end of the stream at its token's expiry, cancelled if it ends before.
    var expiry: Scheduled<Void>?
    /// Index in its group's members, for O(1) removal.
    var slot = -1
    let logger: Logger

    init(
        context: ChannelHandlerContext, filter: TopicFilter, credential: String, identity: String, resumingAfter lastEventID: EventID?,
        queue: Int, logger: Logger
    ) {
        self.context = context
        self.channel = context.channel
        self.core = context.channel._channelCore
        self.socket = StreamSocket(channel: context.channel)
        self.isWritable = context.channel.isWritable
        self.filter = filter
        self.credential = credential
        self.identity = identity
        self.state = SubscriptionState(resumingAfter: lastEventID, bufferLimit: queue)
        self.logger = logger
    }

    /// Writes the events of one drain (already filtered for this subscriber's topics), then flushes once.
    ///
    /// A live subscriber that is not behind the batch gets `coalesced`, the batch's frames in one shared buffer:
    /// one write for the whole drain. Otherwise (just after a replay hand-off) each event is checked on its own.
    /// Under pressure (the channel over its high-water mark) only events the kernel cannot take count against
    /// the subscriber's queue; past the queue bound the subscriber is cut.
    /// `firstID` and `lastID` are those of the first and last of `events`, taken once per drain rather than once
    /// per subscriber.
    func deliver(_ events: [EncodedEvent], firstID: EventID, lastID: EventID, coalesced: ByteBuffer) {
        guard !isClosed else { return }
        if state.isLive && state.lastDeliveredID < firstID {
            state.markDelivered(through: lastID)
            send(coalesced)
            if !isWritable { addBacklog(events.count) }
            return
        }
        for event in events {
            guard state.offerLive(event) else { continue }
            send(event.frame)
            if !isWritable {
                addBacklog(1)
                if isClosed { return }
            }
        }
    }

    /// Writes `frame` and flushes it: straight to the kernel while NIO holds nothing for this channel, else, and
    /// for whatever the kernel does not take now, through NIO.
    private func send(_ frame: ByteBuffer) {
        guard let socket else {
            core.write0(NIOAny(frame), promise: nil)
            core.flush0()
            return
        }
        guard !channelHoldsBytes else {
            writeThroughChannel(frame, promise: nil, flush: true)
            return
        }
        let sent = socket.send(frame)
        guard sent < frame.readableBytes else { return }
        var rest = frame
        rest.moveReaderIndex(forwardBy: sent)
        writeThroughChannel(rest, promise: nil, flush: true)
    }

    /// Writes `bytes` through NIO, behind anything it still holds for the channel (the stream's head, the replay,
    /// and frames the kernel had no room for, go this way); returns when they have reached the kernel.
    @discardableResult
    func write(_ bytes: ByteBuffer, flush: Bool) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        writeThroughChannel(bytes, promise: promise, flush: flush)
        return promise.futureResult
    }

    private func writeThroughChannel(_ bytes: ByteBuffer, promise: EventLoopPromise<Void>?, flush: Bool) {
        core.write0(NIOAny(bytes), promise: promise)
        if socket != nil {
            if channelHoldsBytes {
                writesAfterBarrier += 1
            } else {
                channelHoldsBytes = true
                writeBarrier()
            }
        }
        if flush { core.flush0() }
    }

    /// Writes an empty buffer behind everything NIO holds for the stream. When NIO has written up to it, frames
    /// go directly again, unless more went through NIO meanwhile: then the next barrier goes behind those.
    private func writeBarrier() {
        writesAfterBarrier = 0
        let barrier = channel.eventLoop.makePromise(of: Void.self)
        core.write0(NIOAny(channel.allocator.buffer(capacity: 0)), promise: barrier)
        barrier.futureResult.assumeIsolated().whenComplete { result in
            guard case .success = result else {
                self.socket = nil  // the channel is closing: NIO has the last word
                return
            }
            if self.writesAfterBarrier > 0 {
                self.writeBarrier()
                self.core.flush0()
            } else {
                self.channelHoldsBytes = false
            }
        }
    }

    /// Whether the next frame would go straight to the kernel.
    var sendsDirectly: Bool { socket != nil && !channelHoldsBytes }

    /// Flushes what ``write(_:flush:)`` left unflushed.
    func flush() {
        core.flush0()
    }

    private func addBacklog(_ events: Int) {
        backlog += events
        if backlog > state.bufferLimit { cut() }
    }

    /// Writes a shared, pre-encoded comment frame (heartbeat); skipped while the client is not reading.
    func writeHeartbeat(_ frame: ByteBuffer) {
        guard !isClosed, isWritable else { return }
        send(frame)
    }

    /// The channel crossed a water mark (its handler reports both ways): above the high one the client is not
    /// keeping up; below the low one it is reading again.
    func writabilityChanged(_ writable: Bool) {
        isWritable = writable
        if writable { backlog = 0 }
    }

    /// Closes a subscriber that fell too far behind; it resumes by `Last-Event-ID` with nothing lost.
    private func cut() {
        logger.info(
            "Subscriber cut: it stopped reading and its queue is full; it can resume with Last-Event-ID",
            metadata: ["hookstream.last_event_id": "\(state.lastDeliveredID)", LogMessageID.metadataKey: "\(LogMessageID.subscriberCut)"])
        isClosed = true
        wasCut = true
        context.close(promise: nil)
    }

    /// Ends the stream cleanly (server shutdown): what is queued goes out, then the connection closes, which
    /// ends the body.
    func finish() {
        end(with: channel.allocator.buffer(capacity: 0))
    }

    /// Ends the stream after a last frame (an event that tells the client why), behind what is queued.
    func end(with lastFrame: ByteBuffer) {
        guard !isClosed else { return }
        isClosed = true
        let channel = self.channel
        context.writeAndFlush(NIOAny(lastFrame)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func markClosed() {
        isClosed = true
        expiry?.cancel()
        expiry = nil
    }
}
