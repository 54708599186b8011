import HookstreamCore
import Logging
import NIOConcurrencyHelpers

/// What every connection handler shares: configuration, auth, the broker and the hubs.
final class ServerContext: Sendable {
    let configuration: Configuration
    let authenticator: Authenticator
    let broker: Broker
    let hubs: StreamHubs
    let webhooks: WebhookIngest
    let jobs: JobRunner
    let logger: Logger
    private let isShuttingDownBox = NIOLockedValueBox(false)

    init(configuration: Configuration, engine: RuleEngine, broker: Broker, hubs: StreamHubs, jobs: JobRunner, logger: Logger) {
        self.configuration = configuration
        self.authenticator = Authenticator(tokens: configuration.tokens)
        self.broker = broker
        self.hubs = hubs
        self.jobs = jobs
        self.logger = logger
        self.webhooks = WebhookIngest(
            sources: configuration.sources, engine: engine, broker: broker, logger: logger)
    }

    var isShuttingDown: Bool {
        get { isShuttingDownBox.withLockedValue { $0 } }
        set { isShuttingDownBox.withLockedValue { $0 = newValue } }
    }
}
