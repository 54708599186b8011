public import HookstreamCore
public import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle

/// The daemon assembled from a ``Configuration``: store, broker, stream hubs, the HTTP server and the Unix
/// socket, as services for one `ServiceGroup`.
///
/// ```swift
/// let app = try await Hookstream(configuration: config, group: group, logger: logger)
/// let services = ServiceGroup(services: app.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await services.run()
/// ```
public final class Hookstream: Sendable {
    /// The services to run, in start order (they stop in reverse).
    public let services: [any Service]
    public let broker: Broker

    /// - Parameters:
    ///   - configuration: a validated configuration.
    ///   - group: the event loops for HTTP and the Unix socket.
    ///   - onListening: told the HTTP address once bound (port 0 resolves here).
    public init(
        configuration: Configuration, group: any EventLoopGroup, logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) async throws {
        let store: any EventStore
        switch configuration.store.kind {
        case .memory:
            store = MemoryEventStore(maximumEventsPerTopic: configuration.store.retention.maxEventsPerTopic)
        case .sqlite:
            store = try SQLiteEventStore(path: configuration.store.path, synchronous: configuration.store.synchronous)
        }
        let broker = try await Broker(store: store, encode: StreamFraming.eventFrame)
        let hubs = StreamHubs(group: group)
        for hub in hubs.all { broker.addSink(hub) }
        let jobs = JobRunner()
        let engine = RuleEngine(rules: configuration.rules)
        let context = ServerContext(configuration: configuration, engine: engine, broker: broker, hubs: hubs, jobs: jobs, logger: logger)
        let retention = RetentionService(
            store: store, retention: configuration.store.retention, interval: configuration.store.pruneInterval,
            clock: ContinuousClock(), logger: logger)
        var services: [any Service] = [jobs, retention, HTTPServer(context: context, group: group, address: configuration.server.listen, onListening: onListening)]
        if let socket = configuration.server.unixSocket, let source = configuration.unixSocketSource {
            services.append(
                UnixSocketIngest(socket: socket, source: source.name, engine: engine, broker: broker, group: group, logger: logger))
        }
        self.services = services
        self.broker = broker
    }
}
