// nio-floor PORT [CERTIFICATE KEY]: an SSE pub/sub server that does only what every such server must, on the public
// API of SwiftNIO, with the pipelines hookstream uses and one event loop, as nchan's one worker:
// - plain: NIOHTTP1's request decoder and one handler that writes raw bytes;
// - with a PEM certificate chain and key: TLS (swift-nio-ssl) offering `h2` and `http/1.1` by ALPN; HTTP/1.1 as
//   above, HTTP/2 (swift-nio-http2) with a child channel per stream and the HTTP/1-style codec on it.
// `GET /sub` is a stream; `POST /pub` sends its body to every stream as `id: N` / `data: BODY`, encoded once, one
// write and flush per stream, and answers 202 with the id. No auth, no rules, no store, no backlog bound, no
// heartbeat: whatever hookstream costs above this server is hookstream's own code; what this server costs is
// NIO's and the kernel's (bench/floor/README.md).
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS

/// The open streams and the last id; used on the server's one event loop only (it lives in a loop-bound box).
final class Streams {
    var subscribers: [ObjectIdentifier: FloorHandler.Subscriber] = [:]
    var lastID = 0
}

final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = NIOAny

    /// An open stream: its handler's context and how it frames (raw bytes, or response parts on an h2 stream).
    struct Subscriber {
        let context: ChannelHandlerContext
        let isHTTP2: Bool
    }

    private static let streamHead = ByteBuffer(
        string: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n")
    private static let notFound = ByteBuffer(string: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    private let streams: NIOLoopBoundBox<Streams>
    private let isHTTP2: Bool
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var isStream = false

    init(streams: NIOLoopBoundBox<Streams>, isHTTP2: Bool) {
        self.streams = streams
        self.isHTTP2 = isHTTP2
    }

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
                streams.value.subscribers[ObjectIdentifier(self)] = Subscriber(context: context, isHTTP2: isHTTP2)
                if isHTTP2 {
                    var fields = HTTPHeaders()
                    fields.add(name: "content-type", value: "text/event-stream")
                    fields.add(name: "cache-control", value: "no-cache")
                    context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http2, status: .ok, headers: fields))), promise: nil)
                } else {
                    context.writeAndFlush(NIOAny(FloorHandler.streamHead), promise: nil)
                }
            } else if head.method == .POST && head.uri.hasPrefix("/pub") {
                publish(context: context)
            } else {
                respond(.notFound, body: nil, context: context)
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
            if subscriber.isHTTP2 {
                subscriber.context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(frame))), promise: nil)
            } else {
                subscriber.context.writeAndFlush(NIOAny(frame), promise: nil)
            }
        }
        respond(.accepted, body: "{\"id\":\(streams.lastID)}", context: context)
    }

    private func respond(_ status: HTTPResponseStatus, body: String?, context: ChannelHandlerContext) {
        let text = body ?? ""
        if isHTTP2 {
            var fields = HTTPHeaders()
            fields.add(name: "content-type", value: "application/json")
            fields.add(name: "content-length", value: String(text.utf8.count))
            context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http2, status: status, headers: fields))), promise: nil)
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            return
        }
        if status == .notFound { return context.writeAndFlush(NIOAny(FloorHandler.notFound), promise: nil) }
        var response = context.channel.allocator.buffer(capacity: 96)
        response.writeStaticString("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: ")
        response.writeString(String(text.utf8.count))
        response.writeStaticString("\r\n\r\n")
        response.writeString(text)
        context.writeAndFlush(NIOAny(response), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if isStream { streams.value.subscribers[ObjectIdentifier(self)] = nil }
        context.fireChannelInactive()
    }
}

func configureHTTP1(_ channel: any Channel, streams: NIOLoopBoundBox<Streams>) throws {
    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
    try channel.pipeline.syncOperations.addHandler(FloorHandler(streams: streams, isHTTP2: false))
}

/// A copy of hookstream's `HTTPServer.configureHTTP2` (Sources/HookstreamServer/HTTP/HTTPServer.swift): the same
/// settings, windows and watermarks, so that the two compare. Keep them in step.
func configureHTTP2(_ channel: any Channel, streams: NIOLoopBoundBox<Streams>) throws {
    var connection = NIOHTTP2Handler.ConnectionConfiguration()
    connection.initialSettings = [
        HTTP2Setting(parameter: .maxConcurrentStreams, value: 1_000), HTTP2Setting(parameter: .maxHeaderListSize, value: 64 * 1024),
    ]
    var stream = NIOHTTP2Handler.StreamConfiguration()
    stream.targetWindowSize = 1 << 20
    stream.outboundBufferSizeHighWatermark = 256 * 1024
    stream.outboundBufferSizeLowWatermark = 128 * 1024
    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(mode: .server, connectionConfiguration: connection, streamConfiguration: stream) {
        stream in
        stream.eventLoop.makeCompletedFuture {
            try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
            try stream.pipeline.syncOperations.addHandler(FloorHandler(streams: streams, isHTTP2: true))
        }
    }
}

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 0 : 0
var tls: NIOSSLContext?
if arguments.count > 3 {
    var configuration = TLSConfiguration.makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(arguments[2]).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: arguments[3], format: .pem)))
    configuration.minimumTLSVersion = .tlsv12
    configuration.applicationProtocols = ["h2", "http/1.1"]
    tls = try NIOSSLContext(configuration: configuration)
}
let context = tls
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let streams = try loop.submit { NIOLoopBoundBox(Streams(), eventLoop: loop) }.wait()
let channel = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            guard let context else { return try configureHTTP1(channel, streams: streams) }
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
            try channel.pipeline.syncOperations.addHandler(
                ApplicationProtocolNegotiationHandler { result in
                    channel.eventLoop.makeCompletedFuture {
                        if case .negotiated("h2") = result {
                            try configureHTTP2(channel, streams: streams)
                        } else {
                            try configureHTTP1(channel, streams: streams)
                        }
                    }
                })
        }
    }
    .bind(host: "127.0.0.1", port: port).wait()
print("listening on \(channel.localAddress?.port ?? 0)")
fflush(nil)  // every stream: run.py reads this line through a pipe
try channel.closeFuture.wait()
