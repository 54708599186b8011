import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Prometheus

/// What every connection handler shares: the live settings, the broker, the hubs and the publish batchers.
final class ServerContext: Sendable {
    let broker: Broker
    let hubs: StreamHubs
    /// One per event loop, in the order of `hubs.all`.
    let batchers: [PublishBatcher]
    /// One per event loop, in the order of `hubs.all`: what closes connections that keep the server waiting.
    let sweepers: [ConnectionSweeper]
    let webhooks: WebhookIngest
    let publisher: Publisher
    let jobs: JobRunner
    /// Routes the messages whose regex tests need more steps than they get where they arrived.
    let routing: RoutingWorker
    let tickets = TicketStore()
    let streamCounts = StreamCounts()
    let bodyBudget = BodyBudget()
    let replayBudget = ReplayBudget()
    let metrics: ServerMetrics
    /// What `GET /metrics` emits, when the process bootstrapped swift-metrics with it.
    let registry: PrometheusCollectorRegistry?
    let logger: Logger
    private let current: NIOLockedValueBox<LiveSettings>
    private let isShuttingDownBox = NIOLockedValueBox(false)
    private let hostRefusals = NIOLockedValueBox(RefusalLog())
    private let malformedHostRefusals = NIOLockedValueBox(RefusalLog())

    init(
        settings: LiveSettings, broker: Broker, hubs: StreamHubs, jobs: JobRunner, routing: RoutingWorker, metrics: ServerMetrics,
        registry: PrometheusCollectorRegistry?,
        logger: Logger
    ) {
        self.current = NIOLockedValueBox(settings)
        self.broker = broker
        self.hubs = hubs
        self.batchers = hubs.all.map { PublishBatcher(eventLoop: $0.eventLoop, broker: broker) }
        self.sweepers = hubs.all.map { ConnectionSweeper(eventLoop: $0.eventLoop) }
        self.jobs = jobs
        self.routing = routing
        self.metrics = metrics
        self.registry = registry
        self.logger = logger
        self.publisher = Publisher(store: broker.store, jobs: jobs, logger: logger)
        self.webhooks = WebhookIngest(publisher: publisher, routing: routing, metrics: metrics, logger: logger)
    }

    /// The settings in force; read once per request.
    var settings: LiveSettings { current.withLockedValue { $0 } }

    /// Puts `settings` in force for every request that starts from now on.
    func replaceSettings(_ settings: LiveSettings) {
        current.withLockedValue { $0 = settings }
    }

    /// The batcher of `loop`.
    func batcher(for loop: any EventLoop) -> PublishBatcher {
        for batcher in batchers where batcher.eventLoop === loop { return batcher }
        preconditionFailure("event loop \(loop) is not part of the HTTP server's group")
    }

    /// The connection sweeper of `loop`.
    func sweeper(for loop: any EventLoop) -> ConnectionSweeper {
        for sweeper in sweepers where sweeper.eventLoop === loop { return sweeper }
        preconditionFailure("event loop \(loop) is not part of the HTTP server's group")
    }

    /// Logs a request refused for its `Host`: a name the server does not answer to (``LiveSettings/refuses(host:)``),
    /// or, when `isMalformed`, none, more than one, a malformed one, or a bad target in absolute form. Each kind at most once per
    /// ``RefusalLog/interval``, with how many there were: a rebinding page may send many.
    func logHostRefusal(host: String, isMalformed: Bool) {
        let log = isMalformed ? malformedHostRefusals : hostRefusals
        guard let count = log.withLockedValue({ $0.count(now: NIODeadline.now().uptimeNanoseconds) }) else { return }
        // A Host is never meant to carry user info; one that does (`user:password@name`) keeps it out of the log.
        let host = host.lastIndex(of: "@").map { "<userinfo>@" + host[host.index(after: $0)...] } ?? host
        logger.warning(
            isMalformed
                ? "Requests refused for a Host against HTTP's rules: none on an HTTP/1.1 request, more than one, a malformed one, or a request target that is not a valid absolute URI"
                : "Requests refused for their Host: not localhost, an IP address or a name in server.hosts",
            // A name as it is; anything else quoted and escaped, so that it cannot pass for more of the line.
            metadata: [
                "host": "\(HostAllowList.name(ofHostHeader: host) != nil ? String(host.prefix(255)) : String(reflecting: String(host.prefix(255))))",
                "refused": "\(count)",
            ])
    }

    var isShuttingDown: Bool {
        get { isShuttingDownBox.withLockedValue { $0 } }
        set { isShuttingDownBox.withLockedValue { $0 = newValue } }
    }
}
