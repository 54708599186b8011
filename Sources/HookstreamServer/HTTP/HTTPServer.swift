import HookstreamCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The HTTP listener: webhooks, event streams, health. Ends every stream on graceful shutdown.
final class HTTPServer: Service {
    private let context: ServerContext
    private let group: any EventLoopGroup
    private let address: ListenAddress
    private let onListening: @Sendable (SocketAddress) -> Void

    init(context: ServerContext, group: any EventLoopGroup, address: ListenAddress, onListening: @escaping @Sendable (SocketAddress) -> Void) {
        self.context = context
        self.group = group
        self.address = address
        self.onListening = onListening
    }

    func run() async throws {
        let server = context
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // No outbound handler may go here: stream frames skip the pipeline, straight to the socket
                    // (`StreamSocket`) or to the channel's core (`StreamSubscriber`), so anything that wrote (TLS)
                    // would be bypassed.
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try channel.pipeline.syncOperations.addHandler(HTTPConnectionHandler(server: server))
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
        let local = channel.localAddress
        context.logger.info("HTTP server listening", metadata: ["address": "\(local.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?")"])
        if let local { onListening(local) }
        for hub in context.hubs.all { hub.startHeartbeat(every: context.settings.configuration.streams.heartbeat) }

        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            server.isShuttingDown = true
            channel.close(promise: nil)
        }
        // The listener is closed: end the open streams so clients reconnect elsewhere (or later) with Last-Event-ID.
        await context.hubs.shutdown()
        context.logger.info("HTTP server stopped")
    }
}
