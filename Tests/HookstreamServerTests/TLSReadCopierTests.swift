import NIOCore
import NIOEmbedded
import Testing

@testable import HookstreamServer

@Suite struct TLSReadCopierTests {
    /// Each read goes on as the same bytes in a buffer of its own, sized to them, so the handler before it (TLS)
    /// holds the only reference to its buffer and reuses it; reads stay whole and in order.
    @Test func eachReadGoesOnAsACopyOfItsOwn() throws {
        let channel = EmbeddedChannel(handler: TLSReadCopier())
        var plaintext = ByteBuffer(repeating: 0, count: 32 * 1024)
        plaintext.clear()
        plaintext.writeString("WINDOW_UPDATE and more")
        let first = plaintext.getSlice(at: 0, length: 13)!
        let second = plaintext.getSlice(at: 13, length: 9)!
        try channel.writeInbound(first)
        try channel.writeInbound(second)
        let reads = [try channel.readInbound(as: ByteBuffer.self), try channel.readInbound(as: ByteBuffer.self)].compactMap { $0 }
        #expect(reads == [first, second])
        for (read, original) in zip(reads, [first, second]) {
            #expect(read.capacity < 1024, "sized to the read (rounded up by the allocator), not the TLS handler's 32 KiB")
            let (copyAddress, originalAddress) = (
                read.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) },
                original.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            )
            #expect(copyAddress != originalAddress, "a copy, not a slice of the TLS handler's buffer")
        }
        #expect(try channel.finish().isClean)
    }
}
