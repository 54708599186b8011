import HookstreamCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
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
        let bootstrap = ServerBootstrap(group: group)
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
        let channel: any Channel
        switch listener {
        case .address(let address): channel = try await bootstrap.bind(host: address.host, port: address.port).get()
        case .inherited(let descriptor): channel = try await bootstrap.withBoundSocket(descriptor).get()
        }
        let local = channel.localAddress
        context.logger.info(
            "HTTP server listening",
            metadata: [
                "address": "\(local.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?")",
                "socket": "\(listener.isInherited ? "inherited" : "bound")",
            ])
        if let local { onListening(local) }
        for hub in context.hubs.all { hub.startHeartbeat(every: context.settings.configuration.streams.heartbeat) }

        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            server.isShuttingDown = true
            channel.close(promise: nil)
        }
        // The listener is closed: end the open streams, each told to come back after a different delay within
        // `streams.drain`, so that thousands of clients do not reconnect (to the next process) in the same second.
        await context.hubs.shutdown(drain: context.settings.configuration.streams.drain)
        context.logger.info("HTTP server stopped")
    }
}

extension HTTPServer.Listener {
    var isInherited: Bool {
        if case .inherited = self { return true }
        return false
    }
}
