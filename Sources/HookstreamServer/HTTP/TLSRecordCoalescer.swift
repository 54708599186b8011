import NIOCore

/// Joins the writes that reach TLS between two flushes into as few buffers as fit a TLS record, so that each
/// becomes one record instead of one per write.
///
/// swift-nio-http2 writes every DATA frame as two buffers, its 9-byte header and its payload, and swift-nio-ssl
/// makes each buffer a TLS record of its own: two encryptions, two record headers and two authentication tags per
/// event on an HTTP/2 stream, where nginx sends one. Placed between the HTTP/2 handler and the TLS handler, this
/// copies the small writes (an event's frame is a few hundred bytes) into one buffer of up to a record's 16 KiB;
/// a write too big to join is passed on by itself, in order.
///
/// Writes are held only until the next flush, which is when the TLS handler would have encrypted them anyway. During
/// a hub's drain a connection's second flush is held too, until the drain ends (``HeldFlushes``), and in its later
/// drains its first as well: the streams of one connection that a drain writes then share one record and one `write`.
final class TLSRecordCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// The most plaintext one TLS record carries (RFC 8446, section 5.1).
    static let recordBytes = 16 * 1024

    /// Bytes joined and not yet passed on; kept between flushes so that its storage is reused.
    private var joined = ByteBuffer()
    /// The promises of the writes in `joined`, in order.
    private var promises: [EventLoopPromise<Void>] = []
    private var holdsBytes = false
    /// The drains of the connection's event loop, when the connection carries streams of its hub.
    private let heldFlushes: HeldFlushes?
    /// The drain (its ``HeldFlushes/generation``) in which this connection was last flushed, and how many times.
    private var drain = -1
    private var flushesInDrain = 0
    private var drainWroteEvents = false
    /// Whether the connection's last drain of events flushed it more than once (it carries several of the drain's
    /// streams): then even its first flush in a drain waits, for one flush per drain.
    private var sharesDrains = false
    /// Whether a flush waits for the end of the drain.
    private var isFlushHeld = false

    init(heldFlushes: HeldFlushes? = nil) {
        self.heldFlushes = heldFlushes
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(var buffer) = unwrapOutboundIn(data) else {
            passJoined(context: context)
            context.write(data, promise: promise)
            return
        }
        let size = buffer.readableBytes
        if joined.readableBytes + size > Self.recordBytes {
            passJoined(context: context)
            guard size < Self.recordBytes else {
                context.write(data, promise: promise)
                return
            }
        }
        joined.writeBuffer(&buffer)
        holdsBytes = true
        if let promise { promises.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {
        guard let held = heldFlushes, held.isHolding else { return flushNow(context: context) }
        if drain != held.generation {
            if drainWroteEvents { sharesDrains = flushesInDrain > 1 }
            drain = held.generation
            drainWroteEvents = held.isEventDrain
            flushesInDrain = 0
        }
        flushesInDrain += 1
        // A connection with one stream in the drain is flushed at once, as outside a drain.
        if flushesInDrain == 1, !sharesDrains { return flushNow(context: context) }
        if !isFlushHeld {
            isFlushHeld = true
            held.hold(self, context: context)
        }
    }

    /// The flush held during a drain, when the drain has ended (unless the connection flushed or went meanwhile).
    func releaseHeldFlush(context: ChannelHandlerContext) {
        guard isFlushHeld else { return }
        flushNow(context: context)
    }

    private func flushNow(context: ChannelHandlerContext) {
        isFlushHeld = false
        passJoined(context: context)
        context.flush()
        // A write made from inside the flush (a callback run by it) is held for the next one: keep its bytes.
        guard !holdsBytes else { return }
        // The TLS handler has encrypted what it could by now and let go of the buffer, so clearing it keeps its
        // storage; a buffer grown by a burst is let go rather than held for an idle connection.
        if joined.capacity > 4 * 1024 { joined = ByteBuffer() } else { joined.clear() }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // Bytes whose flush was held were asked to go out before the close.
        if isFlushHeld { flushNow(context: context) } else { passJoined(context: context) }
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if isFlushHeld { flushNow(context: context) } else { passJoined(context: context) }
    }

    private func passJoined(context: ChannelHandlerContext) {
        guard holdsBytes else { return }
        holdsBytes = false
        let promise: EventLoopPromise<Void>?
        switch promises.count {
        case 0: promise = nil
        case 1: promise = promises[0]
        default:
            let all = context.eventLoop.makePromise(of: Void.self)
            for each in promises { all.futureResult.cascade(to: each) }
            promise = all
        }
        promises.removeAll(keepingCapacity: true)
        // Taken before the write, which may call back into this handler (a failed promise, say): bytes written then
        // go after these, in a buffer of their own, since the one passed on belongs to the TLS handler until it has
        // encrypted it.
        let bytes = joined
        joined.moveReaderIndex(to: joined.writerIndex)
        context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
    }
}
