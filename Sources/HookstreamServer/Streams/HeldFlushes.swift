import NIOCore

/// The HTTP/2 connections of one event loop whose flushes wait for the end of a hub's drain (or heartbeat).
///
/// A drain writes each subscriber and flushes it, and an HTTP/2 stream's flush flushes its whole connection: a
/// browser whose ten tabs share one connection cost ten TLS records and ten `write`s per event, where nginx sends
/// one. While the hub holds flushes, each connection's ``TLSRecordCoalescer`` notes its flushes here, and the hub
/// flushes each noted connection once when the drain ends. A connection flushed only once in its last drain (one
/// stream of the drain's topics, as with one tab) is flushed at once instead, as outside a drain, so its bytes do not
/// wait for the rest of the drain.
///
/// Used on its event loop only, like the hub that owns it.
final class HeldFlushes {
    /// Whether a drain is running; each drain has its own ``generation``.
    private(set) var isHolding = false
    /// Whether the running drain writes events (not heartbeats, which write every stream): only an event drain
    /// tells a connection whether it carries several streams of the hub's drains.
    private(set) var isEventDrain = false
    /// Counts the drains, so that a coalescer knows whether it has flushed in this one.
    private(set) var generation = 0
    private var waiting: [(coalescer: TLSRecordCoalescer, context: ChannelHandlerContext)] = []
    /// The list being released, kept to reuse its storage.
    private var releasing: [(coalescer: TLSRecordCoalescer, context: ChannelHandlerContext)] = []

    /// Runs `body` (a drain of events, or a heartbeat when `events` is `false`) with flushes held, then flushes each
    /// connection that asked for a flush meanwhile.
    func holding(events: Bool = true, _ body: () -> Void) {
        guard !isHolding else { return body() }
        isHolding = true
        isEventDrain = events
        generation &+= 1
        body()
        isHolding = false
        guard !waiting.isEmpty else { return }
        swap(&waiting, &releasing)
        for held in releasing { held.coalescer.releaseHeldFlush(context: held.context) }
        releasing.removeAll(keepingCapacity: true)
    }

    /// Notes a flush that `coalescer` holds until the drain ends (once per drain: it keeps a flag).
    func hold(_ coalescer: TLSRecordCoalescer, context: ChannelHandlerContext) {
        waiting.append((coalescer, context))
    }
}
