import HookstreamCore
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import HookstreamServer

@Suite struct TLSRecordCoalescerTests {
    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(TLSRecordCoalescer())
        return channel
    }

    private func bytes(_ count: Int, _ value: UInt8) -> ByteBuffer {
        ByteBuffer(repeating: value, count: count)
    }

    /// Everything the TLS handler below received, one element per write.
    private func passedOn(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var writes: [ByteBuffer] = []
        while let write = try channel.readOutbound(as: ByteBuffer.self) { writes.append(write) }
        return writes
    }

    /// An HTTP/2 DATA frame arrives as its 9-byte header and its payload; with a second frame behind it, all four
    /// reach TLS as one write (one record), in order, and every write's promise is kept.
    @Test func smallWritesBetweenTwoFlushesBecomeOne() throws {
        let channel = try channel()
        let parts = [bytes(9, 1), bytes(120, 2), bytes(9, 3), bytes(300, 4)]
        let written = parts.map { channel.write($0) }
        #expect(try passedOn(channel).isEmpty, "nothing is passed on before the flush")
        channel.flush()
        let passed = try passedOn(channel)
        #expect(passed.count == 1)
        var expected = ByteBuffer()
        for var part in parts { expected.writeBuffer(&part) }
        #expect(passed.first == expected)
        // Checked without waiting: an embedded channel's futures complete inline or never.
        nonisolated(unsafe) var kept = 0
        for write in written { write.whenSuccess { kept += 1 } }
        #expect(kept == parts.count)
        #expect(try channel.finish().isClean)
    }

    /// Joined writes stop at a record's 16 KiB; a write that does not fit starts the next join, and one of a
    /// record or more is passed on by itself, with the order kept throughout.
    @Test func joinsStopAtARecordAndBigWritesPassAlone() throws {
        let channel = try channel()
        let parts = [bytes(6_000, 1), bytes(6_000, 2), bytes(6_000, 3), bytes(9, 4), bytes(20_000, 5), bytes(9, 6), bytes(50, 7)]
        for part in parts { channel.write(part, promise: nil) }
        channel.flush()
        let passed = try passedOn(channel)
        #expect(passed.map(\.readableBytes) == [12_000, 6_009, 20_000, 59])
        var all = ByteBuffer()
        for var write in passed { all.writeBuffer(&write) }
        var expected = ByteBuffer()
        for var part in parts { expected.writeBuffer(&part) }
        #expect(all == expected)
        #expect(passed.allSatisfy { $0.readableBytes <= TLSRecordCoalescer.recordBytes || $0.readableBytes == 20_000 })
    }

    /// Bytes written after a flush are a join of their own, in a buffer that does not change what was passed on.
    @Test func whatWasPassedOnIsNotChangedByLaterWrites() throws {
        let channel = try channel()
        channel.write(bytes(100, 1), promise: nil)
        channel.flush()
        let first = try passedOn(channel)
        channel.write(bytes(100, 2), promise: nil)
        channel.write(bytes(100, 3), promise: nil)
        channel.flush()
        let second = try passedOn(channel)
        #expect(first == [bytes(100, 1)])
        var expected = bytes(100, 2)
        var third = bytes(100, 3)
        expected.writeBuffer(&third)
        #expect(second == [expected])
    }

    /// What reaches the handler below: each write's size, and the close.
    private final class Recorder: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var seen: [String] = []

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            seen.append("write \(unwrapOutboundIn(data).readableBytes)")
            context.write(data, promise: promise)
        }

        func flush(context: ChannelHandlerContext) {
            seen.append("flush")
            context.flush()
        }

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            seen.append("close")
            context.close(mode: mode, promise: promise)
        }
    }

    private func recordedChannel(_ held: HeldFlushes) throws -> (EmbeddedChannel, Recorder) {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.pipeline.syncOperations.addHandler(TLSRecordCoalescer(heldFlushes: held))
        return (channel, recorder)
    }

    /// In a drain, a connection's first flush goes at once (a connection with one stream is flushed as it was
    /// before); its further flushes, one per other stream of the connection the drain writes, are one flush when the
    /// drain ends, with their bytes joined in one record. In its next drains such a connection holds its first flush
    /// too: one flush per drain. Outside a drain every flush goes at once.
    @Test func aConnectionWithSeveralStreamsFlushesOncePerDrain() throws {
        let held = HeldFlushes()
        let (many, manyRecorder) = try recordedChannel(held)
        let (single, singleRecorder) = try recordedChannel(held)
        held.holding {
            for stream in 1...3 { many.writeAndFlush(bytes(100, UInt8(stream)), promise: nil) }
            single.writeAndFlush(bytes(50, 9), promise: nil)
            #expect(manyRecorder.seen == ["write 100", "flush"], "the second and third flush wait")
            #expect(singleRecorder.seen == ["write 50", "flush"])
        }
        #expect(manyRecorder.seen == ["write 100", "flush", "write 200", "flush"])
        #expect(singleRecorder.seen == ["write 50", "flush"], "a connection flushed once in the drain is not flushed again")
        var expected = bytes(100, 2)
        var third = bytes(100, 3)
        expected.writeBuffer(&third)
        #expect(try passedOn(many) == [bytes(100, 1), expected])
        manyRecorder.seen.removeAll()
        singleRecorder.seen.removeAll()
        held.holding {
            for stream in 4...5 { many.writeAndFlush(bytes(10, UInt8(stream)), promise: nil) }
            single.writeAndFlush(bytes(50, 9), promise: nil)
            #expect(manyRecorder.seen.isEmpty, "a connection flushed more than once in its last drain waits from the first")
            #expect(singleRecorder.seen == ["write 50", "flush"])
        }
        #expect(manyRecorder.seen == ["write 20", "flush"])
        manyRecorder.seen.removeAll()
        many.writeAndFlush(bytes(10, 6), promise: nil)
        many.writeAndFlush(bytes(10, 7), promise: nil)
        #expect(manyRecorder.seen == ["write 10", "flush", "write 10", "flush"], "outside a drain nothing waits")
    }

    /// Makes a stream subscriber from its own context, as each HTTP/2 stream's connection handler does.
    private final class Stream: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let topics: String
        var subscriber: StreamSubscriber?

        init(_ topics: String) { self.topics = topics }

        func handlerAdded(context: ChannelHandlerContext) {
            subscriber = StreamSubscriber(
                context: context, filter: TopicFilter([try! TopicPattern(topics)]), credential: "test", identity: "test",
                resumingAfter: nil, queue: 16, logger: Logger(label: "test"))
        }
    }

    /// What reaches the socket of several connections, in one list, in order.
    private final class SocketLog: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        final class Lines { var all: [String] = [] }
        let name: String
        let lines: Lines

        init(_ name: String, _ lines: Lines) {
            self.name = name
            self.lines = lines
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            lines.all.append("\(name) write \(unwrapOutboundIn(data).readableBytes)")
            context.write(data, promise: promise)
        }

        func flush(context: ChannelHandlerContext) {
            lines.all.append("\(name) flush")
            context.flush()
        }
    }

    /// The hub's drains hold flushes, through the wiring the server has. Connection a has two streams of the
    /// drains' topic (each its own handler, as each HTTP/2 stream is its own channel); connection b has one, and
    /// one of another topic. a is flushed once more at the end of its first drain, and only then in each after;
    /// b is flushed at once, also after a heartbeat (which writes both of its streams).
    @Test func aHubDrainFlushesAConnectionWithTwoOfItsStreamsOnce() throws {
        let loop = EmbeddedEventLoop()
        let hub = StreamHub(eventLoop: loop, metrics: ServerMetrics(), releasedThrough: 0)
        let log = SocketLog.Lines()
        var channels: [EmbeddedChannel] = []
        for (name, topics) in [("a", ["demo/**", "demo/**"]), ("b", ["demo/**", "other/**"])] {
            let channel = EmbeddedChannel(loop: loop)
            try channel.pipeline.syncOperations.addHandler(SocketLog(name, log))
            try channel.pipeline.syncOperations.addHandler(TLSRecordCoalescer(heldFlushes: hub.heldFlushes))
            for pattern in topics {
                let stream = Stream(pattern)
                try channel.pipeline.syncOperations.addHandler(stream)
                #expect(hub.add(try #require(stream.subscriber)))
            }
            channels.append(channel)
        }
        // "data: N\n\n": 9 bytes.
        func publish(_ id: EventID) -> [String] {
            log.all.removeAll()
            hub.enqueue([EncodedEvent(id: id, topic: "demo/x", frame: ByteBuffer(string: "data: \(id)\n\n"))])
            loop.run()
            return log.all
        }
        #expect(publish(1) == ["a write 9", "a flush", "b write 9", "b flush", "a write 9", "a flush"])
        #expect(publish(2) == ["b write 9", "b flush", "a write 18", "a flush"], "a: one flush for both streams")
        log.all.removeAll()
        hub.startHeartbeat(every: .seconds(15))
        loop.run()
        loop.advanceTime(by: .seconds(15))
        #expect(log.all.filter { $0 == "a flush" }.count == 1, "the heartbeat: one flush for a's two streams")
        #expect(log.all.filter { $0 == "b flush" }.count == 2, "b's two streams: the first at once, the second at the end")
        #expect(publish(3) == ["b write 9", "b flush", "a write 18", "a flush"], "b still flushes at once")
        for channel in channels { _ = try channel.finish(acceptAlreadyClosed: true) }
    }

    /// A connection closed in a drain (a cut stream's connection) first sends the bytes whose flush it held, and is
    /// not flushed again when the drain ends.
    @Test func aCloseInADrainSendsTheHeldBytesFirst() throws {
        let held = HeldFlushes()
        let (channel, recorder) = try recordedChannel(held)
        held.holding {
            channel.writeAndFlush(bytes(30, 1), promise: nil)
            channel.writeAndFlush(bytes(40, 2), promise: nil)
            channel.close(promise: nil)
        }
        #expect(recorder.seen == ["write 30", "flush", "write 40", "flush", "close"])
    }

    /// A close passes on what was joined before it, so that the TLS handler still has every byte written before
    /// the close, in order.
    @Test func aClosePassesOnWhatWasJoinedFirst() throws {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.pipeline.syncOperations.addHandler(TLSRecordCoalescer())
        channel.write(bytes(40, 9), promise: nil)
        channel.write(bytes(9, 8), promise: nil)
        #expect(recorder.seen.isEmpty)
        channel.close(promise: nil)
        #expect(recorder.seen == ["write 49", "close"])
    }
}
