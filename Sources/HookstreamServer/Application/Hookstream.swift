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
    private let context: ServerContext
    private let logger: Logger

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
        let context = ServerContext(settings: LiveSettings(configuration: configuration), broker: broker, hubs: hubs, jobs: jobs, logger: logger)
        let retention = RetentionService(store: store, settings: { context.settings.configuration }, clock: ContinuousClock(), logger: logger)
        var services: [any Service] = [jobs, retention, HTTPServer(context: context, group: group, address: configuration.server.listen, onListening: onListening)]
        if let socket = configuration.server.unixSocket {
            services.append(UnixSocketIngest(socket: socket, server: context, group: group, logger: logger))
        }
        self.services = services
        self.broker = broker
        self.context = context
        self.logger = logger
    }

    /// The configuration in force.
    public var configuration: Configuration { context.settings.configuration }

    /// Puts `configuration` in force for everything read per request or per event (sources, rules, verification,
    /// tokens, limits, heartbeat, retention): open streams stay open, except those whose token no longer grants
    /// their topics, which are ended. Settings bound at start (listeners, store, event loops) keep their old values.
    ///
    /// - Returns: what changed and what did not take effect (see ``ReloadOutcome``).
    @discardableResult
    public func apply(_ configuration: Configuration) async -> ReloadOutcome {
        let previous = context.settings.configuration
        let settings = LiveSettings(configuration: configuration)
        context.replaceSettings(settings)
        var ended = 0
        for hub in context.hubs.all {
            hub.startHeartbeat(every: configuration.streams.heartbeat)
            ended += (try? await hub.revokeStreams(grantedBy: settings.authenticator).get()) ?? 0
        }
        if let socket = configuration.server.unixSocket, socket.path == previous.server.unixSocket?.path,
            socket.mode != previous.server.unixSocket?.mode || socket.owner != previous.server.unixSocket?.owner
                || socket.group != previous.server.unixSocket?.group
        {
            UnixSocketIngest.applyPermissions(socket, logger: logger)
        }
        return ReloadOutcome(streamsEnded: ended, needsRestart: ReloadOutcome.settingsNeedingRestart(from: previous, to: configuration))
    }
}
