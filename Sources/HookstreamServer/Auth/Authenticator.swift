public import HookstreamCore

/// Finds the ``AccessToken`` a secret belongs to, comparing in constant time so that timing reveals nothing.
public struct Authenticator: Sendable {
    private let tokens: [AccessToken]

    public init(tokens: [AccessToken]) { self.tokens = tokens }

    /// The token whose secret is `secret`, if any.
    public func token(forSecret secret: String) -> AccessToken? {
        let presented = Array(secret.utf8)
        var found: AccessToken?
        // Compare against every token, not stopping at a match, so the time does not depend on which one it is.
        for token in tokens where ConstantTime.equals(token.secret.utf8, presented) {
            found = token
        }
        return found
    }

    /// Whether `secret` is a token that may still read every pattern of `filter` (an open stream, after a reload).
    public func grants(secret: String, filter: TopicFilter) -> Bool {
        guard let token = token(forSecret: secret) else { return false }
        return filter.patterns.allSatisfy { token.subscribe.covers($0) }
    }
}
