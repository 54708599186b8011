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

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            seen.append("close")
            context.close(mode: mode, promise: promise)
        }
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
