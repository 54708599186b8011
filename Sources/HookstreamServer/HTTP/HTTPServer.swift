import HookstreamCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import ServiceLifecycle

/// The HTTP listener: webhooks, event streams, health, metrics. Ends every stream on graceful shutdown.
final class HTTPServer: Service {
    /// Where the server listens.
    enum Listener: Sendable {
        /// Bind this address.
        case address(ListenAddress)
        /// Serve on a socket passed already bound (systemd socket activation).
        case inherited(CInt)
    }

    private let context: ServerContext
    private let group: any EventLoopGroup
    private let listener: Listener
    private let onListening: @Sendable (SocketAddress) -> Void

    init(context: ServerContext, group: any EventLoopGroup, listener: Listener, onListening: @escaping @Sendable (SocketAddress) -> Void) {
        self.context = context
        self.group = group
        self.listener = listener
        self.onListening = onListening
    }

    func run() async throws {
        let server = context
        // TLS is on or off for the listener's life; its certificate and key are those in force for each new
        // connection, so a reload changes them for the connections that follow.
        let usesTLS = context.settings.tls != nil
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: HTTPServer.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The connection's first request must arrive whole within request_timeout of now, TLS handshake included.
                    let settings = server.settings
                    let firstRequestBy = NIODeadline.now() + TimeAmount(settings.configuration.server.requestTimeout)
                    guard usesTLS, let tls = settings.tls else {
                        return try HTTPServer.configureHTTP1(channel, server: server, overTLS: false, firstRequestBy: firstRequestBy)
                    }
                    let tlsHandler = NIOSSLServerHandler(context: tls)
                    try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    try channel.pipeline.syncOperations.addHandler(
                        TLSHandshakeDeadline(sweeper: server.sweeper(for: channel.eventLoop), expiry: firstRequestBy))
                    try channel.pipeline.syncOperations.addHandler(
                        ApplicationProtocolNegotiationHandler { result in
                            channel.eventLoop.makeCompletedFuture {
                                if case .negotiated("h2") = result {
                                    // HTTP/2 writes each DATA frame as two buffers, which TLS would make two records;
                                    // and each stream's flush flushes the connection (held during a drain).
                                    let held = server.hubs.hub(for: channel.eventLoop).heldFlushes
                                    try channel.pipeline.syncOperations.addHandler(
                                        TLSRecordCoalescer(heldFlushes: held), position: .after(tlsHandler))
                                    // Its frame decoder keeps the last read: let it keep a copy, not TLS's buffer.
                                    try channel.pipeline.syncOperations.addHandler(TLSReadCopier(), position: .after(tlsHandler))
                                    try HTTPServer.configureHTTP2(channel, server: server, firstRequestBy: firstRequestBy)
                                } else {
                                    try HTTPServer.configureHTTP1(channel, server: server, overTLS: true, firstRequestBy: firstRequestBy)
                                }
                            }
                        })
                }
            }
        let channel: any Channel
        switch listener {
        case .address(let address):
            do {
                channel = try await bootstrap.bind(host: address.host, port: address.port).get()
            } catch {
                throw ListenError(address: address, underlying: error)
            }
        case .inherited(let descriptor):
            channel = try await bootstrap.withBoundSocket(descriptor).get()
            // NIO listens again on a socket it is given, with its default backlog of 128, before any option applies:
            // the socket unit's Backlog= is put back (a second listen() only changes the queue's length).
            if listen(descriptor, HTTPServer.backlog) != 0 {
                context.logger.warning("Cannot set the passed socket's backlog", metadata: ["backlog": "\(HTTPServer.backlog)", "errno": "\(errno)"])
            }
        }
        let local = channel.localAddress
        context.logger.info(
            "HTTP server listening",
            metadata: [
                "address": "\(local.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?")",
                "socket": "\(listener.isInherited ? "inherited" : "bound")", "tls": "\(usesTLS ? "h2, http/1.1" : "off")",
            ])
        if let local { onListening(local) }
        for hub in context.hubs.all { hub.startHeartbeat(every: context.settings.configuration.streams.heartbeat) }

        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            server.isShuttingDown = true
            server.routing.abandon()
            channel.close(promise: nil)
            // Ahead of the streams' ends, on each loop: HTTP/2 connections say GOAWAY.
            for sweeper in server.sweepers { sweeper.announceStop() }
        }
        // The listener is closed: end the open streams, each told to come back after a different delay within
        // `streams.drain`, so that thousands of clients do not reconnect (to the next process) in the same second.
        await context.hubs.shutdown(drain: context.settings.configuration.streams.drain)
        for sweeper in context.sweepers { sweeper.shutdown() }
        context.logger.info("HTTP server stopped")
    }
}

extension HTTPServer {
    /// Connections the kernel queues before they are accepted (as `Backlog=` in the socket unit).
    static let backlog: Int32 = 4096

    /// The most bytes one connection may have received and not yet parsed into requests.
    static let maximumUnparsedBytes = 1 << 20

    /// HTTP/1.1 (after TLS, when there is TLS): a request decoder and the connection handler, which writes
    /// responses and stream frames as raw bytes. Without TLS, requests' `Host` is checked against `server.hosts`.
    static func configureHTTP1(_ channel: any Channel, server: ServerContext, overTLS: Bool, firstRequestBy: NIODeadline) throws {
        // A client that ends its side after its requests still gets their answers, and the server can end its own
        // side alone after a last answer (HTTPConnectionHandler). Over TLS swift-nio-ssl passes a client's close_notify,
        // or its bare TCP end, on as the input's end, and ends the server's side with its own close_notify. (Set only
        // once ALPN chose HTTP/1.1: swift-nio-http2 has no use for a half-closed connection.)
        try channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
        // The decoder's buffer holds only what it has not parsed yet: a partial head (NIO caps heads at 80 KiB), or
        // bytes after an upgrade request, which it never parses. The bound closes a connection that keeps sending them.
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes), maximumBufferSize: HTTPServer.maximumUnparsedBytes))
        try channel.pipeline.syncOperations.addHandler(HTTPConnectionHandler(server: server, checksHost: !overTLS, firstRequestBy: firstRequestBy))
    }

    /// HTTP/2: each stream is a child channel with the HTTP/1-style codec and its own connection handler, so an
    /// event stream is one HTTP/2 stream of the same fan-out; HTTP/2 flow control decides each stream's writability.
    static func configureHTTP2(_ channel: any Channel, server: ServerContext, firstRequestBy: NIODeadline) throws {
        let limits = server.settings.configuration.server
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        // Read per connection: a reload's value applies to the connections that start after it.
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: limits.http2Streams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 64 * 1024),
        ]
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = 1 << 20
        // A stream's bytes held while its flow-control window is closed, before it counts as not keeping up (its
        // queue, `streams.queue`, then counts events): about what a kernel's socket buffer holds for an HTTP/1.1
        // client, so that a client lagging for a moment is not cut sooner over HTTP/2 than over HTTP/1.1.
        stream.outboundBufferSizeHighWatermark = 256 * 1024
        stream.outboundBufferSizeLowWatermark = 128 * 1024
        let idle = HTTP2IdleDeadline(
            channel: channel, sweeper: server.sweeper(for: channel.eventLoop), firstStreamBy: firstRequestBy, idleTimeout: TimeAmount(limits.idleTimeout))
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream, streamDelegate: idle
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try stream.pipeline.syncOperations.addHandler(HTTPConnectionHandler(server: server, framing: .http2, checksHost: false))
            }
        }
    }
}

extension HTTPServer.Listener {
    var isInherited: Bool {
        if case .inherited = self { return true }
        return false
    }
}
