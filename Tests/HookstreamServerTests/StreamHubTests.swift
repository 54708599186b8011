import HookstreamCore
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import HookstreamServer

/// The hub's drain when the broker says events were missed (a shared store pruned them before this instance read
/// them): what the streams open then had before the hole reaches them, then they are told to come back and closed;
/// what follows the hole reaches none of them; streams opened later start after the hole.
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
}
