import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// What every connection handler shares: configuration, auth, the broker, the hubs and the publish batchers.
final class ServerContext: Sendable {
    let configuration: Configuration
    let authenticator: Authenticator
    let broker: Broker
    let hubs: StreamHubs
    /// One per event loop, in the order of `hubs.all`.
    let batchers: [PublishBatcher]
    let webhooks: WebhookIngest
    let jobs: JobRunner
    let logger: Logger
    private let isShuttingDownBox = NIOLockedValueBox(false)

    init(configuration: Configuration, engine: RuleEngine, broker: Broker, hubs: StreamHubs, jobs: JobRunner, logger: Logger) {
        self.configuration = configuration
        self.authenticator = Authenticator(tokens: configuration.tokens)
        self.broker = broker
        self.hubs = hubs
        self.batchers = hubs.all.map { PublishBatcher(eventLoop: $0.eventLoop, broker: broker) }
        self.jobs = jobs
        self.logger = logger
        self.webhooks = WebhookIngest(
            sources: configuration.sources, engine: engine, logger: logger)
    }

    /// The batcher of `loop`.
    func batcher(for loop: any EventLoop) -> PublishBatcher {
        for batcher in batchers where batcher.eventLoop === loop { return batcher }
        preconditionFailure("event loop \(loop) is not part of the HTTP server's group")
    }

    var isShuttingDown: Bool {
        get { isShuttingDownBox.withLockedValue { $0 } }
        set { isShuttingDownBox.withLockedValue { $0 = newValue } }
    }
}
