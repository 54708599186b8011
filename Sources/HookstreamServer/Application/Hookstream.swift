public import HookstreamCore
public import Logging
public import NIOCore
import NIOPosix
import Synchronization
public import Prometheus
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
    /// The services to run, in start order (they stop in reverse: the store closes last).
    public let services: [any Service]
    public let broker: Broker
    private let context: ServerContext
    private let logger: Logger
    private let listenersBound: ListenerCount
    /// Whether the ingest socket came from systemd, whose socket unit then owns its file, mode and owner.
    private let ingestIsInherited: Bool
    /// The configuration the daemon started with: listeners, store and event loops keep its values until a restart.
    private let bound: Configuration
    /// Wakes the retention service when a reload changes its period.
    private let retentionWake: RetentionWake

    /// - Parameters:
    ///   - configuration: a validated configuration.
    ///   - group: the event loops for HTTP and the Unix socket.
    ///   - inherited: listeners passed already bound (socket activation), used instead of the configured ones.
    ///   - metrics: the registry `GET /metrics` shows (the process bootstraps swift-metrics with it); `nil` answers 404.
    ///   - onListening: told the HTTP address once bound (port 0 resolves here).
    ///   - store: the store opened by the caller, for kinds this module does not open itself (`postgres`, which lives in
    ///     `HookstreamPostgres`). A store that is also a `Service` runs first in the group, and stops last.
    public init(
        configuration: Configuration, group: any EventLoopGroup, logger: Logger, inherited: InheritedListeners = InheritedListeners(),
        metrics: PrometheusCollectorRegistry? = nil, store provided: (any EventStore)? = nil,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) async throws {
        let store: any EventStore
        switch (configuration.store.kind, provided) {
        case (_, let provided?):
            store = provided
        case (.memory, nil):
            store = MemoryEventStore(maximumEventsPerTopic: configuration.store.retention.maxEventsPerTopic, logger: logger)
        case (.sqlite, nil):
            store = try SQLiteEventStore(path: configuration.store.path, synchronous: configuration.store.synchronous, logger: logger)
        case (.postgres, nil):
            throw StoreError(.unavailable, "store.kind postgres: this hookstream was built without the Postgres trait (swift build --traits Postgres)")
        }
        let broker = try await Broker(store: store, encode: StreamFraming.eventFrame)
        let serverMetrics = ServerMetrics()
        let hubs = StreamHubs(group: group, metrics: serverMetrics, releasedThrough: broker.releasedThrough)
        for hub in hubs.all { broker.addSink(hub) }
        broker.addSink(PublishedEventCounter(metrics: serverMetrics))
        let jobs = JobRunner()
        let routing = RoutingWorker(logger: logger)
        let context = ServerContext(
            settings: try await LiveSettings.make(configuration), broker: broker, hubs: hubs, jobs: jobs, routing: routing, metrics: serverMetrics,
            registry: metrics, logger: logger)
        let retention = RetentionService(store: store, settings: { context.settings.configuration }, clock: ContinuousClock(), logger: logger)
        let http: HTTPServer.Listener = inherited.http.map(HTTPServer.Listener.inherited) ?? .address(configuration.server.listen)
        let listenersBound = ListenerCount()
        var services: [any Service] = [
            StoreCloser(store: store, logger: logger), jobs, retention,
            HTTPServer(context: context, group: group, listener: http, onListening: { address in
                listenersBound.bound()
                onListening(address)
            }),
        ]
        if let service = store as? any Service {
            // First, so told last to stop: after StoreCloser has closed the store and its appends are committed.
            services.insert(service, at: 0)
        }
        if let socket = configuration.server.unixSocket {
            let listener: UnixSocketIngest.Listener = inherited.ingest.map(UnixSocketIngest.Listener.inherited) ?? .path(socket.path)
            services.append(
                UnixSocketIngest(socket: socket, listener: listener, server: context, group: group, logger: logger, onListening: listenersBound.bound))
            listenersBound.expect(2)
        } else {
            listenersBound.expect(1)
        }
        // Last, so told first to stop (and the listeners tell it too): what it routes is abandoned, not waited for.
        services.append(routing)
        self.services = services
        self.broker = broker
        self.context = context
        self.logger = logger
        self.listenersBound = listenersBound
        self.ingestIsInherited = inherited.ingest != nil
        self.bound = configuration
        self.retentionWake = retention.wake
    }

    /// Whether every listener is bound (the store is open from `init` on): the moment for systemd's `READY=1`.
    public var isReady: Bool { listenersBound.isComplete }

    /// Checks that the daemon still works: every event loop runs a task and the store answers a read. A hung loop or
    /// store makes this never return, which is what a watchdog needs: no answer, no `WATCHDOG=1`.
    public func probe() async -> Bool {
        for hub in context.hubs.all {
            guard (try? await hub.eventLoop.submit {}.get()) != nil else { return false }
        }
        return (try? await broker.store.probe()) != nil
    }

    /// Live figures for a status line: open streams, and events published since start.
    public var figures: (streams: Int, eventsPublished: Int) {
        (context.metrics.openStreams.load(ordering: .relaxed), context.metrics.publishedCount.load(ordering: .relaxed))
    }

    /// Records a reload's outcome in the metrics.
    public func countReload(applied: Bool) {
        context.metrics.reloaded(applied: applied)
    }

    /// The configuration in force.
    public var configuration: Configuration { context.settings.configuration }

    /// Compiles what starting and reloading compile beyond reading the file (JWT keys, the TLS context), without
    /// starting anything: what `check` runs.
    /// - Throws: ``SettingsError`` naming the part that cannot be put in use.
    public static func validate(_ configuration: Configuration) async throws(SettingsError) {
        _ = try await LiveSettings.make(configuration)
    }

    /// Puts `configuration` in force for everything read per request or per event (sources, rules, verification,
    /// tokens, limits, heartbeat, retention): open streams stay open, except those whose token no longer grants
    /// their topics, which are ended. Settings bound at start (listeners, store, event loops) keep their old values.
    ///
    /// - Returns: what changed and what did not take effect (see ``ReloadOutcome``).
    /// - Throws: when the configuration's JWT keys cannot be put in use (then nothing changed).
    @discardableResult
    public func apply(_ configuration: Configuration) async throws -> ReloadOutcome {
        let previous = context.settings.configuration
        var settings = try await LiveSettings.make(configuration)
        if settings.tls == nil, let inForce = context.settings.tls, let configured = previous.server.tls {
            settings = settings.keepingTLS(inForce, configured: configured)
        }
        context.replaceSettings(settings)
        if configuration.store.pruneInterval != previous.store.pruneInterval { retentionWake.signal() }
        var ended = 0
        for hub in context.hubs.all {
            hub.startHeartbeat(every: configuration.streams.heartbeat)
            ended += await hub.revokeStreams(grantedBy: settings.authenticator)
        }
        if !ingestIsInherited, let socket = configuration.server.unixSocket, socket.path == previous.server.unixSocket?.path,
            socket.mode != previous.server.unixSocket?.mode || socket.owner != previous.server.unixSocket?.owner
                || socket.group != previous.server.unixSocket?.group
        {
            UnixSocketIngest.applyPermissions(socket, logger: logger)
        }
        return ReloadOutcome(
            streamsEnded: ended, needsRestart: ReloadOutcome.settingsNeedingRestart(bound: bound, previous: previous, to: configuration))
    }
}
