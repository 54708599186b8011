/// Routes incoming messages: every rule of the message's source whose conditions hold publishes one event.
public struct RuleEngine: Sendable {
    private let rulesBySource: [String: [Rule]]

    /// Creates an engine; rules keep their order within a source.
    public init(rules: [Rule]) {
        var bySource: [String: [Rule]] = [:]
        for rule in rules { bySource[rule.source, default: []].append(rule) }
        self.rulesBySource = bySource
    }

    /// The events a message from `source` produces, in rule order; empty when no rule matches.
    ///
    /// - Parameters:
    ///   - source: the source the message came in by.
    ///   - context: the message as a JSON object (`body`, `header`, ... for webhooks; the line's fields for the socket).
    /// - Throws: ``RoutingError`` from the first matching rule that cannot produce its event; then nothing is published.
    public func route(source: String, context: JSONValue) throws(RoutingError) -> [EventDraft] {
        var drafts: [EventDraft] = []
        for rule in rulesBySource[source] ?? [] where rule.matches(context) {
            drafts.append(try rule.draft(for: context))
        }
        return drafts
    }
}
