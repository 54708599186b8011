import NIOCore
import NIOHTTP2

/// Closes an HTTP/2 connection that carries no stream: after its first request does not come within
/// `server.limits.request_timeout`, or after `server.limits.idle_timeout` without any. Each stream's own handler
/// watches its request; an open event stream keeps the connection.
///
/// swift-nio-http2 calls the delegate on the connection's event loop, the only place it is touched.
final class HTTP2IdleDeadline: NIOHTTP2StreamDelegate, ExpiringConnection, @unchecked Sendable {  // loop-confined
    private let channel: any Channel
    private let sweeper: ConnectionSweeper
    private let idleTimeout: TimeAmount
    private var openStreams = 0
    private(set) var expiry: NIODeadline
    var sweeperSlot = -1

    /// Starts watching `channel` (the connection, on its loop) for a first request within `requestTimeout`.
    init(channel: any Channel, sweeper: ConnectionSweeper, requestTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.channel = channel
        self.sweeper = sweeper
        self.idleTimeout = idleTimeout
        self.expiry = .now() + requestTimeout
        sweeper.add(self)
        channel.closeFuture.whenComplete { _ in sweeper.remove(self) }
    }

    func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
        openStreams += 1
        expiry = .distantFuture
    }

    func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
        openStreams -= 1
        if openStreams == 0 { expiry = .now() + idleTimeout }
    }

    func expire() {
        channel.close(promise: nil)
    }
}
