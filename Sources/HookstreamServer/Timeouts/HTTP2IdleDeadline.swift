import NIOCore
import NIOHTTP2

/// Closes an HTTP/2 connection that carries no stream, with a GOAWAY first: when its first stream has not come by
/// the first request's deadline (`server.limits.request_timeout` after the connection was accepted), or after
/// `server.limits.idle_timeout` without any. Each stream's own handler watches its request and, once answered, its
/// end; an open event stream keeps the connection. When the server stops it says GOAWAY at once, so the client opens
/// its next streams elsewhere, and closes the connection once the stop has ended the streams it carries.
///
/// swift-nio-http2 calls the delegate on the connection's event loop, the only place it is touched.
final class HTTP2IdleDeadline: NIOHTTP2StreamDelegate, ExpiringConnection, @unchecked Sendable {  // loop-confined
    private let channel: any Channel
    private let sweeper: ConnectionSweeper
    private let idleTimeout: TimeAmount
    private var openStreams = 0
    /// The last stream the client opened, which the GOAWAY names.
    private var lastStreamID = HTTP2StreamID.rootStream
    /// The server is stopping: the connection closes as its last stream ends.
    private var stopping = false
    private(set) var expiry: NIODeadline
    var sweeperSlot = -1

    /// Starts watching `channel` (the connection, on its loop) for a first stream by `firstStreamBy`.
    init(channel: any Channel, sweeper: ConnectionSweeper, firstStreamBy: NIODeadline, idleTimeout: TimeAmount) {
        self.channel = channel
        self.sweeper = sweeper
        self.idleTimeout = idleTimeout
        self.expiry = firstStreamBy
        sweeper.add(self)
        channel.closeFuture.whenComplete { _ in sweeper.remove(self) }
    }

    func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
        openStreams += 1
        lastStreamID = max(lastStreamID, id)
        expiry = .distantFuture
    }

    func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
        openStreams -= 1
        guard openStreams == 0 else { return }
        if stopping { closeNow() } else { expiry = .now() + idleTimeout }
    }

    /// Says GOAWAY with no error, naming the last stream taken: swift-nio-http2 refuses the streams a client opens
    /// after it, and the client (a browser's `EventSource` reconnecting after the stop's `retry:`) opens them on a
    /// new connection instead, to the next process. The open streams go on until the stop ends them.
    func serverWillStop() {
        stopping = true
        if openStreams == 0 { closeNow() } else { channel.writeAndFlush(goAwayFrame, promise: nil) }
    }

    /// Leaves the sweeper and closes behind a GOAWAY (``expire()``), without waiting for the next sweep.
    private func closeNow() {
        sweeper.remove(self)
        expire()
    }

    private var goAwayFrame: HTTP2Frame {
        HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
    }

    /// Says GOAWAY (no error, naming the last stream taken, so a client knows nothing after it was processed),
    /// then closes once it is written, after what went before it; after ``goAwayGrace`` at the latest: a client
    /// that stopped reading leaves the GOAWAY behind bytes that never go out, and the kernel keeps a connection
    /// whose peer takes nothing open for good.
    func expire() {
        let channel = self.channel
        channel.writeAndFlush(goAwayFrame).whenComplete { _ in channel.close(promise: nil) }
        let deadline = channel.eventLoop.scheduleTask(in: HTTP2IdleDeadline.goAwayGrace) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
    }

    /// How long a GOAWAY may take to go out before the connection is closed anyway.
    static let goAwayGrace = TimeAmount.seconds(5)
}
