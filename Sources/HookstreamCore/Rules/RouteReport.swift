/// What routing one message did, rule by rule: the answer of ``RuleEngine/explain(source:message:)``.
public struct RouteReport: Sendable {
    /// One rule of the message's source.
    public struct RuleOutcome: Sendable, Hashable {
        public var name: String
        /// Whether the rule's condition held.
        public var matched: Bool
        /// Why it did not match (the first condition that failed), or why it failed the message; `nil` for a rule
        /// that matched and published.
        public var reason: String?
        /// Whether this rule failed the whole message: it matched and could not build its events, or its regex
        /// search was given up (then ``matched`` is `false`: whether the condition held is not known).
        public var failed: Bool = false
    }

    /// The source's rules in order.
    public var rules: [RuleOutcome] = []
    /// The events that would be published (none when ``error`` is set).
    public var events: [EventDraft] = []
    /// The error that fails the whole message: a matching rule that could not build its events, or a regex search
    /// given up where the rule's condition depends on it.
    public var error: RoutingError?
    /// A regex search given up that the message was routed without (its condition held or failed by another
    /// test): the daemon routes such a message and logs a warning.
    public var givenUp: CompiledRegex.SearchLimitExceeded?

    public init() {}
}
