import NIOCore
import NIOTLS

/// Closes a TLS connection whose handshake does not finish by its first request's deadline (`server.limits.request_timeout`
/// after the connection was accepted):
/// until then no HTTP handler is in its pipeline to watch it, and a client that connects and says nothing would
/// hold its socket for good. Removes itself once the handshake is done.
final class TLSHandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler, ExpiringConnection {
    typealias InboundIn = ByteBuffer

    private let sweeper: ConnectionSweeper
    private var context: ChannelHandlerContext?
    let expiry: NIODeadline
    var sweeperSlot = -1

    init(sweeper: ConnectionSweeper, expiry: NIODeadline) {
        self.sweeper = sweeper
        self.expiry = expiry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        sweeper.add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        sweeper.remove(self)
        self.context = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Passed on first: once removed, this context no longer reaches the ALPN handler, which waits for the event.
        context.fireUserInboundEventTriggered(event)
        if case .handshakeCompleted = event as? TLSUserEvent {
            sweeper.remove(self)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        sweeper.remove(self)
        context.fireChannelInactive()
    }

    func expire() {
        context?.close(promise: nil)
    }
}
