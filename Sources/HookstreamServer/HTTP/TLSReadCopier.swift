import NIOCore

/// Hands each decrypted read on in a buffer of its own, sized to it, so that the TLS handler keeps reusing its
/// plaintext buffer.
///
/// swift-nio-ssl decrypts into one buffer per connection (32 KiB once it has grown) and passes slices of it on.
/// swift-nio-http2's frame decoder keeps the last slice it was given, even with nothing left to parse in it, so the
/// next read finds that buffer shared and allocates another: an idle HTTP/2 connection held two. Placed between
/// the TLS handler and the HTTP/2 handler, this copies each read (a few bytes of WINDOW_UPDATE or HEADERS from an
/// event stream's client; more from a large request body: all the records decrypted in one read) and lets the TLS
/// handler's buffer go, at the cost of one copy per read.
final class TLSReadCopier: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let read = unwrapInboundIn(data)
        var copy = context.channel.allocator.buffer(capacity: read.readableBytes)
        copy.writeImmutableBuffer(read)
        context.fireChannelRead(wrapInboundOut(copy))
    }
}
