import HookstreamCore

/// What a presented credential may do: the topics it may read and publish to, until when, and who it is (for logs
/// and the per-token stream cap).
struct Grant: Sendable {
    /// For logs: a static token's name, or `jwt:<subject>`; never a secret.
    var name: String
    /// What the per-token stream cap counts by: one static token, or one JWT subject (with its issuer).
    var identity: String
    var subscribe: TopicFilter
    var publish: TopicFilter
    /// When the credential expires, in ms since the epoch; `nil` for one that does not.
    var expiresAt: Int64?

    /// Whether every pattern of `filter` may be read.
    func maySubscribe(to filter: TopicFilter) -> Bool {
        filter.patterns.allSatisfy { subscribe.covers($0) }
    }
}
