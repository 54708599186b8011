import HookstreamCore

/// Everything a request reads from the configuration, compiled once: a reload swaps the whole object, and a
/// request that started with one keeps using it to its end, so it never sees half of two configurations.
final class LiveSettings: Sendable {
    let configuration: Configuration
    let authenticator: Authenticator
    let engine: RuleEngine

    init(configuration: Configuration) {
        self.configuration = configuration
        self.authenticator = Authenticator(tokens: configuration.tokens)
        self.engine = RuleEngine(rules: configuration.rules)
    }
}
