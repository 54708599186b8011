import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

@testable import HookstreamServer

/// An HTTP/2 connection that idled past its deadline says GOAWAY and closes, even when the GOAWAY never goes out.
@Suite struct HTTP2IdleDeadlineTests {
    /// Holds every write, as a socket whose peer takes nothing holds what is queued behind its full buffer.
    private final class StuckWrites: ChannelOutboundHandler {
        typealias OutboundIn = HTTP2Frame
        var held: [EventLoopPromise<Void>] = []

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if let promise { held.append(promise) }
        }
    }

    /// Bad input: a client that stopped reading its connection. The GOAWAY stays behind the bytes it does not take,
    /// and the connection once stayed open for as long as the client did (the close waited for the GOAWAY's write).
    @Test func aConnectionWhoseGoAwayNeverGoesOutIsClosedAfterTheGrace() throws {
        let loop = EmbeddedEventLoop()
        let stuck = StuckWrites()
        let channel = EmbeddedChannel(handler: stuck, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let deadline = HTTP2IdleDeadline(
            channel: channel, sweeper: ConnectionSweeper(eventLoop: loop), firstStreamBy: .now() + .hours(1), idleTimeout: .seconds(1))
        deadline.expire()
        #expect(stuck.held.count == 1, "the GOAWAY was written")
        loop.advanceTime(by: HTTP2IdleDeadline.goAwayGrace - .milliseconds(1))
        #expect(channel.isActive, "the GOAWAY has its grace")
        loop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive, "closed without the GOAWAY's write")
        for promise in stuck.held { promise.fail(ChannelError.ioOnClosedChannel) }
    }

    /// A GOAWAY that goes out closes the connection at once, and the grace's timer goes with it.
    @Test func aConnectionWhoseGoAwayGoesOutClosesAtOnce() throws {
        let (loop, channel, _, deadline) = try Self.watchedConnection()
        deadline.expire()
        loop.run()
        #expect(!channel.isActive)
        #expect(try Self.goAway(writtenTo: channel).code == .noError)
    }

    /// A connected channel, its sweeper, and the deadline that watches it (no timeout due within the test).
    private static func watchedConnection() throws -> (EmbeddedEventLoop, EmbeddedChannel, ConnectionSweeper, HTTP2IdleDeadline) {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let sweeper = ConnectionSweeper(eventLoop: loop)
        let deadline = HTTP2IdleDeadline(channel: channel, sweeper: sweeper, firstStreamBy: .now() + .hours(1), idleTimeout: .seconds(1))
        return (loop, channel, sweeper, deadline)
    }

    /// The next frame `channel` wrote, which must be a GOAWAY: the last stream it names, and its error code.
    private static func goAway(writtenTo channel: EmbeddedChannel) throws -> (lastStreamID: HTTP2StreamID, code: HTTP2ErrorCode) {
        let frame = try #require(try channel.readOutbound(as: HTTP2Frame.self))
        let goAway: (HTTP2StreamID, HTTP2ErrorCode)? = if case .goAway(let last, let code, _) = frame.payload { (last, code) } else { nil }
        return try #require(goAway, "not a GOAWAY: \(frame)")
    }

    /// The server stops while the connection carries two streams: GOAWAY goes out at once, naming the last of them,
    /// and the connection stays for them; it closes (after a last GOAWAY, written behind their ends) with the last.
    @Test func aStoppingServerSaysGoAwayAndClosesWithTheLastStream() throws {
        let (loop, channel, sweeper, deadline) = try Self.watchedConnection()
        deadline.streamCreated(1, channel: channel)
        deadline.streamCreated(3, channel: channel)
        sweeper.announceStop()
        loop.run()
        let first = try Self.goAway(writtenTo: channel)
        #expect(first.lastStreamID == 3)
        #expect(first.code == .noError)
        #expect(channel.isActive, "open streams keep the connection")
        deadline.streamClosed(1, channel: channel)
        loop.run()
        #expect(channel.isActive, "one stream left")
        #expect(try channel.readOutbound(as: HTTP2Frame.self) == nil)
        deadline.streamClosed(3, channel: channel)
        loop.run()
        #expect(!channel.isActive, "closed with its last stream")
        #expect(deadline.sweeperSlot == -1, "the sweeper let go of it")
    }

    /// A connection without a stream when the server stops says GOAWAY and closes at once.
    @Test func aConnectionWithoutStreamsClosesAsTheServerStops() throws {
        let (loop, channel, sweeper, deadline) = try Self.watchedConnection()
        deadline.streamCreated(1, channel: channel)
        deadline.streamClosed(1, channel: channel)
        sweeper.announceStop()
        loop.run()
        #expect(!channel.isActive)
        #expect(try Self.goAway(writtenTo: channel).lastStreamID == 1)
    }
}
