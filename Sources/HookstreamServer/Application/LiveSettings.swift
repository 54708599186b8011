import HookstreamCore

/// Everything a request reads from the configuration, compiled once: a reload swaps the whole object, and a
/// request that started with one keeps using it to its end, so it never sees half of two configurations.
final class LiveSettings: Sendable {
    let configuration: Configuration
    let authenticator: Authenticator
    let engine: RuleEngine

    private init(configuration: Configuration, authenticator: Authenticator) {
        self.configuration = configuration
        self.authenticator = authenticator
        self.engine = RuleEngine(rules: configuration.rules)
    }

    /// Compiles `configuration` (its JWT keys among it).
    static func make(_ configuration: Configuration) async throws -> LiveSettings {
        LiveSettings(configuration: configuration, authenticator: try await Authenticator.make(configuration))
    }

    /// The CORS headers for a request from `origin`: the exact origin with credentials, for configured origins
    /// only; nothing for others, so their pages cannot read the answer.
    func corsHeaders(origin: String?) -> [(String, String)] {
        guard let origin, configuration.cors.origins.contains(origin) else { return [] }
        return [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]
    }
}
