// nio-floor PORT: an SSE pub/sub server that does only what every such server must, on SwiftNIO's public API, with
// the pipeline hookstream uses (NIOHTTP1's request decoder, raw bytes out) and one event loop, as nchan's one
// worker. `GET /sub` is a stream, `POST /pub` sends its body to every stream as `id: N` / `data: BODY` and answers
// 202 with the id. No auth, no rules, no store, no backlog bound, no heartbeat: whatever hookstream costs above this
// server is hookstream's own code; what this server costs is NIO's (bench/floor/README.md).
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

/// The open streams and the last id; used on the server's one event loop only (it lives in a loop-bound box).
final class Streams {
    var subscribers: [ObjectIdentifier: ChannelHandlerContext] = [:]
    var lastID = 0
}

final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private static let streamHead = ByteBuffer(
        string: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n")
    private static let notFound = ByteBuffer(string: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    private let streams: NIOLoopBoundBox<Streams>
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var isStream = false

    init(streams: NIOLoopBoundBox<Streams>) { self.streams = streams }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            if head.method == .GET && head.uri.hasPrefix("/sub") {
                isStream = true
                streams.value.subscribers[ObjectIdentifier(self)] = context
                context.writeAndFlush(wrapOutboundOut(FloorHandler.streamHead), promise: nil)
            } else if head.method == .POST && head.uri.hasPrefix("/pub") {
                publish(context: context)
            } else {
                context.writeAndFlush(wrapOutboundOut(FloorHandler.notFound), promise: nil)
            }
        }
    }

    private func publish(context: ChannelHandlerContext) {
        let streams = self.streams.value
        streams.lastID += 1
        // Encoded once, one write and flush per stream, as hookstream and nchan do.
        var frame = context.channel.allocator.buffer(capacity: body.readableBytes + 32)
        frame.writeStaticString("id: ")
        frame.writeString(String(streams.lastID))
        frame.writeStaticString("\ndata: ")
        frame.writeImmutableBuffer(body)
        frame.writeStaticString("\n\n")
        for subscriber in streams.subscribers.values {
            subscriber.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        }
        let answer = "{\"id\":\(streams.lastID)}"
        var response = context.channel.allocator.buffer(capacity: 96)
        response.writeStaticString("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: ")
        response.writeString(String(answer.utf8.count))
        response.writeStaticString("\r\n\r\n")
        response.writeString(answer)
        context.writeAndFlush(wrapOutboundOut(response), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if isStream { streams.value.subscribers[ObjectIdentifier(self)] = nil }
        context.fireChannelInactive()
    }
}

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 0 : 0
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let streams = try loop.submit { NIOLoopBoundBox(Streams(), eventLoop: loop) }.wait()
let channel = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try channel.pipeline.syncOperations.addHandler(FloorHandler(streams: streams))
        }
    }
    .bind(host: "127.0.0.1", port: port).wait()
print("listening on \(channel.localAddress?.port ?? 0)")
fflush(nil)  // every stream: run.py reads this line through a pipe
try channel.closeFuture.wait()
