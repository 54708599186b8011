import HookstreamCore
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import HookstreamServer

/// The hub's drain when the broker says events were missed (a shared store pruned them before this instance read
/// them): what the streams open then had before the hole reaches them, then they are told to come back and closed;
/// what follows the hole reaches none of them; streams opened later start after the hole. And a reload's revocation
/// of streams whose token lost its grant.
@Suite struct StreamHubTests {
    /// One stream on its own channel.
    private final class Stream: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var subscriber: StreamSubscriber?

        func handlerAdded(context: ChannelHandlerContext) {
            subscriber = StreamSubscriber(
                context: context, filter: TopicFilter([try! TopicPattern("demo/**")]), credential: "test", identity: "test",
                resumingAfter: nil, queue: 16, logger: Logger(label: "test"))
        }
    }

    private func event(_ id: EventID) -> EncodedEvent {
        EncodedEvent(id: id, topic: "demo/x", frame: ByteBuffer(string: "id: \(id)\ndata: x\n\n"))
    }

    /// Everything the channel was sent, as text.
    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func streamsOwedMissedEventsGetWhatCameBeforeThenAreEndedOnce() throws {
        let loop = EmbeddedEventLoop()
        let hub = StreamHub(eventLoop: loop, metrics: ServerMetrics(), releasedThrough: 0)
        var channels: [EmbeddedChannel] = []
        for _ in 0..<2 {
            let channel = EmbeddedChannel(loop: loop)
            let stream = Stream()
            try channel.pipeline.syncOperations.addHandler(stream)
            #expect(hub.add(try #require(stream.subscriber)))
            channels.append(channel)
        }
        // In one drain: 1 and 2, a hole (3...5), 6, another hole (7), 8.
        hub.enqueue([event(1), event(2)])
        hub.eventsMissed(after: 2, through: 5)
        hub.enqueue([event(6)])
        hub.eventsMissed(after: 6, through: 7)
        hub.enqueue([event(8)])
        loop.run()
        for channel in channels {
            let text = try written(channel)
            #expect(text.hasPrefix("id: 1\ndata: x\n\nid: 2\ndata: x\n\nretry: "), "\(text)")
            #expect(!text.contains("id: 6") && !text.contains("id: 8"), "nothing after the hole: \(text)")
            #expect(text.ranges(of: "retry: ").count == 1, "told once to come back: \(text)")
            #expect(!channel.isActive, "and closed")
        }
        #expect(hub.drainedThrough == 8)

        // A hole with nothing after it in its drain: a stream opened after it starts past it.
        hub.eventsMissed(after: 8, through: 12)
        loop.run()
        #expect(hub.drainedThrough == 12)
        for channel in channels { _ = try? channel.finish(acceptAlreadyClosed: true) }
    }

    /// The handler whose context the revocation test's streams write to.
    private final class Sink: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
    }

    private static func makeStream(_ context: ChannelHandlerContext, credential: String) -> StreamSubscriber {
        StreamSubscriber(
            context: context, filter: TopicFilter([try! TopicPattern("demo/**")]), credential: credential, identity: "test",
            resumingAfter: nil, queue: 16, logger: Logger(label: "test"))
    }

    /// A reload looks at the open streams, checks their tokens off the loop, then ends those that lost their grant.
    /// While it checks, the 64 streams of a revoked token it looked at close (their clients leave, and they are
    /// freed), 64 streams of a token it still grants open (allocated just after, where the freed ones were), and 4
    /// more of the revoked token stay open. It ends those 4, and only them: not the streams that closed, nor any of
    /// the new ones. (It kept the streams' `ObjectIdentifier`s, and ended the new streams that took a freed one's
    /// address.)
    @Test func aReloadEndsOnlyTheStillOpenStreamsItChecked() async throws {
        let loop = NIOAsyncTestingEventLoop()
        let hub = StreamHub(eventLoop: loop, metrics: ServerMetrics(), releasedThrough: 0)
        let channel = try await NIOAsyncTestingChannel(loop: loop) { try $0.pipeline.syncOperations.addHandler(Sink()) }
        let (leaving, staying) = try await loop.submit { () -> (NIOLoopBoundBox<[StreamSubscriber]>, NIOLoopBound<[StreamSubscriber]>) in
            let context = try channel.pipeline.syncOperations.context(handlerType: Sink.self)
            let leaving = (0..<64).map { _ in StreamHubTests.makeStream(context, credential: "revoked") }
            let staying = (0..<4).map { _ in StreamHubTests.makeStream(context, credential: "revoked") }
            for stream in leaving + staying { _ = hub.add(stream) }
            return (NIOLoopBoundBox(leaving, eventLoop: loop), NIOLoopBound(staying, eventLoop: loop))
        }.get()
        let opened = try await loop.submit { NIOLoopBoundBox([StreamSubscriber](), eventLoop: loop) }.get()
        var checks: [String] = []
        let ended = await hub.revokeStreams { credential, _ in
            checks.append(credential)
            guard credential == "revoked" else { return true }
            try? await loop.submit {
                // As the connection handler does when a client leaves; nothing else holds them, and they are freed.
                for stream in leaving.value {
                    stream.markClosed()
                    hub.remove(stream)
                }
                leaving.value = []
                let context = try channel.pipeline.syncOperations.context(handlerType: Sink.self)
                opened.value = (0..<64).map { _ in StreamHubTests.makeStream(context, credential: "granted") }
                for stream in opened.value { _ = hub.add(stream) }
            }.get()
            return false
        }
        #expect(checks == ["revoked"], "one check for the token and topics all the streams it looked at share")
        #expect(ended == 4)
        let (stayingEnded, openedEnded) = try await loop.submit {
            (staying.value.filter(\.isClosed).count, opened.value.filter(\.isClosed).count)
        }.get()
        #expect(stayingEnded == 4, "the streams still open of the revoked token are ended")
        #expect(openedEnded == 0, "no stream opened during the check is ended")
        _ = try? await channel.close()
    }

    /// The `retry:` a stop gives is spread over `streams.drain`, and never under 250 ms, even for a `drain` shorter than
    /// that (bad input for the spread: 1 ms and 100 ms), where every stream gets 250 ms.
    @Test func aStopsReconnectDelayIsSpreadOverTheDrainAndNeverUnderAQuarterSecond() {
        let delays = (0..<2_000).map { _ in StreamHub.reconnectDelay(within: .seconds(5)) }
        #expect(delays.allSatisfy { (250...5_000).contains($0) })
        #expect(Set(delays).count > 1_000, "spread, not one value")
        for drain in [Duration.milliseconds(1), .milliseconds(100), .milliseconds(250)] {
            #expect((0..<100).allSatisfy { _ in StreamHub.reconnectDelay(within: drain) == 250 }, "\(drain)")
        }
    }
}
