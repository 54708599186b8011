import HookstreamCore
import Logging
import NIOCore

/// One open event stream: its channel, its topics and its replay/live state. Lives on its channel's event loop
/// and is touched only there (the hub and the connection handler run on that loop).
final class StreamSubscriber {
    // The fields a delivery reads come first, so that they share the object's first cache lines: with sparse
    // events every subscriber is a cache miss per drain, and the fewer lines, the cheaper.

    /// The connection handler's context: frames are written from it, through NIO's pipeline (and any TLS handler in
    /// it) to the socket, or to the HTTP/2 stream it belongs to.
    let context: ChannelHandlerContext
    /// How the stream's bytes are handed to the pipeline: as the HTTP/1.1 body's raw bytes, or as HTTP response
    /// parts that an HTTP/2 stream's codec turns into DATA frames.
    let framing: StreamFraming.Kind
    private(set) var isClosed = false
    /// Whether the stream was cut for falling behind (rather than closed by either side).
    private(set) var wasCut = false
    /// The channel's writability, as its handler last reported it (NIO reports a change synchronously, inside the
    /// write that crossed a water mark; for an HTTP/2 stream, when its flow-control window closes or opens):
    /// reading it here spares a call into the channel per delivery.
    private var isWritable: Bool
    /// Whether anything was written to it since the last heartbeat that found it over its high-water mark (or since it
    /// last went under it): over HTTP/1.1 a write changes what NIO holds, so comparing that with the heartbeat's says
    /// nothing then. Beside the other flags, where it costs no room.
    private var wroteSinceHeartbeat = false
    /// Live events held for a replay's hand-off (or dropped) while its client took nothing for the grace.
    private var stalledEvents = 0
    /// When the channel last went over its high-water mark, or a replaying client over it was last seen taking bytes
    /// (`nil` while under it): the start of the grace.
    private var unwritableSince: NIODeadline?
    /// Where a subscriber stood at the last heartbeat while it was over its high-water mark (see
    /// ``clientProgress()``).
    private var progressAtHeartbeat: Int?
    /// HTTP/2 only: bytes of counted writes made (replay pages, live events written over the high-water mark, a
    /// heartbeat written to see whether a live client takes anything), and of those whose writes completed (the
    /// stream passed them on to the connection, and the connection to the socket).
    private var bytesWritten = 0
    private var bytesTaken = 0
    /// How long a replaying subscriber's channel may stay over its high-water mark before the live events held for
    /// its hand-off count against its queue: a replay page (up to 2 MiB) keeps it there while a reading client
    /// takes it, and only one that takes nothing for this long is behind.
    private let replayStallGrace: TimeAmount
    var state: SubscriptionState
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
    // Read only over the high-water mark, so after what a delivery reads (``state`` stays where it was).

    /// Live events NIO still holds of those written while the channel was over its high-water mark.
    private var writeBacklog = WriteBacklog()
    /// A replaying subscriber's ``clientProgress()`` when last looked at while over its high-water mark: a later look
    /// that finds it grown restarts the grace.
    private var progressAtLastLook: Int?
    /// A live subscriber over its high-water mark: since when its client has been seen taking nothing (the heartbeat
    /// that took the reading the later ones compare with).
    private var takingNothingSince: NIODeadline?

    init(
        context: ChannelHandlerContext, framing: StreamFraming.Kind = .http1, filter: TopicFilter, credential: String, identity: String,
        resumingAfter lastEventID: EventID?, queue: Int, logger: Logger, replayStallGrace: TimeAmount = StreamSubscriber.endGrace
    ) {
        self.context = context
        self.framing = framing
        self.isWritable = context.channel.isWritable
        self.unwritableSince = isWritable ? nil : .now()
        self.replayStallGrace = replayStallGrace
        self.filter = filter
        self.credential = credential
        self.identity = identity
        self.state = SubscriptionState(resumingAfter: lastEventID, bufferLimit: queue)
        self.logger = logger
    }

    /// The connection's channel (for an HTTP/2 stream, the stream's own).
    var channel: any Channel { context.channel }

    /// Writes the events of one drain (already filtered for this subscriber's topics), then flushes once.
    ///
    /// A live subscriber that is not behind the batch gets `coalesced`, the batch's frames in one shared buffer:
    /// one write for the whole drain. Otherwise (just after a replay hand-off) each event is checked on its own.
    /// Under pressure (the channel over its high-water mark) the events written count against the subscriber's queue
    /// until NIO has written them out; one for which NIO still holds more than the queue bound from earlier writes
    /// is cut (see ``WriteBacklog``).
    /// `firstID` and `lastID` are those of the first and last of `events`, taken once per drain rather than once
    /// per subscriber.
    func deliver(_ events: [EncodedEvent], firstID: EventID, lastID: EventID, coalesced: ByteBuffer) {
        guard !isClosed else { return }
        if state.isLive && state.lastDeliveredID < firstID {
            guard isWritable else {
                guard writeBacklog.admit(events.count, limit: state.bufferLimit) else { return cut() }
                state.markDelivered(through: lastID)
                return sendCounted(coalesced, events: events.count)
            }
            state.markDelivered(through: lastID)
            send(coalesced)
            return
        }
        // Over the mark the drain is admitted as a whole, by what NIO held from before it, as on the coalesced path:
        // its own writes cannot complete within it, so counting them one by one would cut a reading client.
        let heldBefore = writeBacklog.events
        for event in events {
            // Before the event is offered, so that the id a cut logs is the last one written.
            if !isWritable, heldBefore > state.bufferLimit { return cut() }
            guard state.offerLive(event) else {
                // Held for the replay's hand-off (or dropped, to be read again): a client that has taken nothing for
                // the grace is behind by it all the same, and its replay waits on a page it does not read.
                if !isWritable, !state.isLive, replayIsStalled() {
                    stalledEvents += 1
                    if stalledEvents > state.bufferLimit { return cut("its replay's queue is full") }
                }
                continue
            }
            guard isWritable else {
                writeBacklog.record(1)
                sendCounted(event.frame, events: 1)
                continue
            }
            send(event.frame)
        }
    }

    /// Writes `frame` and flushes it: one write and one flush per subscriber per drain.
    private func send(_ frame: ByteBuffer) {
        context.writeAndFlush(framing.body(frame), promise: nil)
    }

    /// Writes `frame` (`count` live events, admitted to ``writeBacklog``) over the high-water mark: its promise takes
    /// them off the backlog once NIO has written them out (or failed them with the channel's close).
    private func sendCounted(_ frame: ByteBuffer, events count: Int) {
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { _ in self.writeBacklog.completed(count) }
        wroteSinceHeartbeat = true
        guard case .http2 = framing else {
            context.writeAndFlush(framing.body(frame), promise: written)
            return
        }
        // Counted like a replay's bytes, so that a live stream over its mark is seen taking them (or not).
        writeCountingProgress(frame, promise: written)
        context.flush()
    }

    /// Whether a replaying subscriber over its high-water mark has had its client take nothing for
    /// ``replayStallGrace``: the grace runs from when the channel went over the mark, and restarts whenever a look at
    /// ``clientProgress()`` (here, and at each heartbeat) finds that the client took bytes since the last look. A
    /// client taking a large page slowly keeps the channel over its mark throughout, and is not behind.
    private func replayIsStalled() -> Bool {
        lookAtReplayProgress(clientProgress())
        guard let since = unwritableSince else { return false }
        return NIODeadline.now() - since >= replayStallGrace
    }

    /// Restarts the stall grace if `progress` shows the client took bytes since the last look; remembers it.
    private func lookAtReplayProgress(_ progress: Int?) {
        // `nil`: nothing to tell (over HTTP/2, nothing of the replay held); the last look still stands.
        guard let progress else { return }
        if let last = progressAtLastLook, progress > last {
            unwritableSince = .now()
            stalledEvents = 0
        }
        progressAtLastLook = progress
    }

    /// After a replay write was flushed over the high-water mark: what NIO holds now is where the client's progress
    /// is measured from (over HTTP/1.1 the write lowered it, and a look comparing with before would miss the client
    /// taking bytes).
    private func rebaseReplayProgress() {
        guard !isWritable, !state.isLive else { return }
        progressAtLastLook = clientProgress()
    }

    /// Writes stream bytes (the greeting, a replay page, a last frame), behind everything written before; returns
    /// when they have reached the socket (or the HTTP/2 stream).
    @discardableResult
    func write(_ bytes: ByteBuffer, flush: Bool) -> EventLoopFuture<Void> {
        let promise = context.eventLoop.makePromise(of: Void.self)
        wroteSinceHeartbeat = true
        if case .http2 = framing {
            writeCountingProgress(bytes, promise: promise)
        } else {
            context.write(framing.body(bytes), promise: promise)
        }
        if flush {
            context.flush()
            rebaseReplayProgress()
        }
        return promise.futureResult
    }

    /// HTTP/2 only: writes `bytes` (unflushed) in slices whose completions count as the client's progress.
    ///
    /// An HTTP/2 stream does not say how many bytes it holds: it is known from the writes that complete, in slices
    /// small enough that a client reading a replay page (up to 2 MiB) or a large drain slowly is seen taking it.
    /// `promise` completes with the last slice.
    private func writeCountingProgress(_ bytes: ByteBuffer, promise: EventLoopPromise<Void>) {
        var rest = bytes
        repeat {
            let slice = rest.readSlice(length: min(rest.readableBytes, StreamSubscriber.progressSlice))!
            let sliceWritten = rest.readableBytes == 0 ? promise : context.eventLoop.makePromise(of: Void.self)
            let count = slice.readableBytes
            bytesWritten += count
            sliceWritten.futureResult.assumeIsolated().whenSuccess { self.bytesTaken += count }
            context.write(framing.body(slice), promise: sliceWritten)
        } while rest.readableBytes > 0
    }

    /// The size of the pieces an HTTP/2 stream's replay pages are written in: one DATA frame of the default size.
    static let progressSlice = 16 * 1024

    /// How far a subscriber's client has got, as a number that grows only when it takes bytes: over HTTP/1.1 the
    /// bytes NIO holds for the connection, negated (more written without being taken lowers it); over HTTP/2 the
    /// bytes of its counted writes that its stream has passed on. `nil` when the channel cannot say, or when an
    /// HTTP/2 stream holds nothing counted (a replay's next page is being read: nothing to take).
    private func clientProgress() -> Int? {
        switch framing {
        // Only the connection's own channel: an HTTP/2 stream's channel stops the process on an option it lacks.
        case .http1: (try? channel.syncOptions?.getOption(.bufferedWritableBytes)).map { -$0 }
        case .http2: bytesWritten > bytesTaken ? bytesTaken : nil
        }
    }

    /// Writes the response head of the stream (with extra headers: CORS).
    func writeHead(extraHeaders: [(String, String)]) {
        context.write(StreamFraming.head(for: framing, extraHeaders: extraHeaders), promise: nil)
    }

    /// Flushes what ``write(_:flush:)`` left unflushed.
    func flush() {
        context.flush()
        rebaseReplayProgress()
    }

    /// Writes a shared, pre-encoded comment frame (heartbeat); skipped while the client is not reading.
    ///
    /// A replaying subscriber whose client took nothing since the last heartbeat (over HTTP/1.1 NIO holds as many
    /// bytes for it as then; over HTTP/2 none of its stream's writes completed) is cut: on a quiet topic no live
    /// event counts against its queue, and its replay would hold its pages for as long as the client stays.
    /// A live one is cut when its client took nothing for ``liveStallGrace`` (see ``checkLiveStall(_:)``).
    func writeHeartbeat(_ frame: ByteBuffer) {
        guard !isClosed else { return }
        guard isWritable else {
            if state.isLive { return checkLiveStall(frame) }
            guard let progress = clientProgress() else {
                progressAtHeartbeat = nil
                return
            }
            lookAtReplayProgress(progress)
            if let before = progressAtHeartbeat, progress <= before {
                logger.info("Replay stopped: its client took nothing for a heartbeat period")
                return cut("took nothing of its replay for a heartbeat period")
            }
            progressAtHeartbeat = progress
            return
        }
        send(frame)
    }

    /// A live subscriber over its high-water mark, at a heartbeat: cut if its client has taken nothing for
    /// ``liveStallGrace``, measured from heartbeat to heartbeat. On a quiet topic no live event counts against its
    /// queue, and what was written before it stopped (its replay's last page, up to 2 MiB, or a large drain) would
    /// stay in NIO for as long as the client keeps the stream open without reading it.
    ///
    /// Over HTTP/1.1 "took nothing" is NIO holding as many bytes for the connection as at the heartbeat before, with
    /// nothing written between; over HTTP/2, none of the stream's counted writes (replay bytes, live events written
    /// over the mark) completed. An HTTP/2 stream that holds nothing counted (it went over its mark with events
    /// written while under it) is given `frame` as a counted write, whose completion is the client's progress.
    private func checkLiveStall(_ frame: ByteBuffer) {
        guard let progress = clientProgress() else {
            progressAtHeartbeat = nil
            takingNothingSince = nil
            if case .http2 = framing { write(frame, flush: true) }
            return
        }
        let wrote = wroteSinceHeartbeat
        wroteSinceHeartbeat = false
        defer { progressAtHeartbeat = progress }
        let comparable: Bool
        switch framing {
        case .http1: comparable = !wrote
        // Its progress counts completed writes, which new writes do not lower.
        case .http2: comparable = true
        }
        guard comparable, let before = progressAtHeartbeat, progress <= before else {
            takingNothingSince = .now()
            return
        }
        guard let since = takingNothingSince else {
            takingNothingSince = .now()
            return
        }
        let stalled = NIODeadline.now() - since
        guard stalled >= StreamSubscriber.liveStallGrace else { return }
        logger.info("Live stream stopped: its client took nothing of what was written to it for \(stalled.nanoseconds / 1_000_000) ms")
        cut("took nothing for \(stalled.nanoseconds / 1_000_000) ms")
    }

    /// How long a live subscriber over its high-water mark may take nothing (seen at two heartbeats at least)
    /// before it is cut: long enough for a client that pauses, short enough that what it holds is not kept for good.
    static let liveStallGrace = TimeAmount.seconds(5)

    /// The channel crossed a water mark (its handler reports both ways): above the high one the client is not
    /// keeping up; below the low one it is reading again.
    func writabilityChanged(_ writable: Bool) {
        isWritable = writable
        if writable {
            stalledEvents = 0
            unwritableSince = nil
            progressAtLastLook = nil
            progressAtHeartbeat = nil
            takingNothingSince = nil
            wroteSinceHeartbeat = false
        } else if unwritableSince == nil {
            unwritableSince = .now()
        }
    }

    /// Closes a subscriber that fell too far behind; it resumes by `Last-Event-ID` with nothing lost.
    /// `reason` completes "Subscriber cut: it stopped reading and ...".
    private func cut(_ reason: String = "its queue is full") {
        logger.info(
            "Subscriber cut: it stopped reading and \(reason); it can resume with Last-Event-ID",
            metadata: ["hookstream.last_event_id": "\(state.lastDeliveredID)", LogMessageID.metadataKey: "\(LogMessageID.subscriberCut)"])
        isClosed = true
        wasCut = true
        context.close(promise: nil)
        closeConnectionIfStuck(after: StreamSubscriber.endGrace)
    }

    /// HTTP/2 only: closes the stream's whole connection if the stream is still open after `grace`. A stream's
    /// close is a RST_STREAM frame, and it waits behind the bytes the connection has not sent: a client that stopped
    /// reading its socket altogether would keep a cut stream (its place in the hub, its token's stream count, what
    /// is queued for it) as long as it liked. Such a connection takes nothing for any of its streams either.
    private func closeConnectionIfStuck(after grace: TimeAmount) {
        guard case .http2 = framing, let connection = channel.parent else { return }
        let stream = channel
        let logger = self.logger
        let deadline = stream.eventLoop.scheduleTask(in: grace) {
            logger.info("HTTP/2 connection closed: one of its streams was ended, and the connection took no bytes for it within \(grace.nanoseconds / 1_000_000_000) s")
            connection.close(promise: nil)
        }
        stream.closeFuture.whenComplete { _ in deadline.cancel() }
    }

    /// How long an ended stream may take to take what is queued for it before it is closed anyway.
    static let endGrace = TimeAmount.seconds(5)

    /// Ends the stream cleanly: what is queued goes out, then the connection closes, which ends the body.
    func finish() {
        end(with: channel.allocator.buffer(capacity: 0))
    }

    /// Ends the stream after a last frame (an event that tells the client why), behind what is queued, and closes it
    /// once that is written, or after `grace` at the latest: a client that stopped reading would otherwise hold the
    /// stream, and a replay waiting for its writes (which keeps a shutdown from ending), for good.
    func end(with lastFrame: ByteBuffer, closingWithin grace: TimeAmount = StreamSubscriber.endGrace) {
        guard !isClosed else { return }
        isClosed = true
        let channel = self.channel
        if lastFrame.readableBytes > 0 { context.write(framing.body(lastFrame), promise: nil) }
        // HTTP/1.1: the body ends when the connection closes. HTTP/2: the stream ends with END_STREAM, then closes.
        context.writeAndFlush(framing.end).whenComplete { _ in
            channel.close(promise: nil)
        }
        let deadline = channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
        closeConnectionIfStuck(after: grace + grace)
    }

    func markClosed() {
        isClosed = true
        expiry?.cancel()
        expiry = nil
    }
}
