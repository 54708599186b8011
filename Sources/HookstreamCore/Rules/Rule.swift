/// A compiled routing rule: which messages of a source it takes, and the events it publishes for each.
public struct Rule: Sendable {
    public var name: String
    public var source: String
    /// What a message must satisfy; `nil` takes every message of the source.
    public var condition: RuleCondition?
    /// The events published for a matching message, in order.
    public var events: [EventTemplate]
    /// Topics this rule may publish to; `nil` allows any.
    public var allowedTopics: TopicFilter?
    /// Whether later rules still get the message after this one matched (`continue: true`).
    public var continues: Bool

    public init(
        name: String, source: String, condition: RuleCondition? = nil, events: [EventTemplate],
        allowedTopics: TopicFilter? = nil, continues: Bool = false
    ) {
        self.name = name
        self.source = source
        self.condition = condition
        self.events = events
        self.allowedTopics = allowedTopics
        self.continues = continues
    }

    /// Whether `message` satisfies the rule's condition.
    /// - Throws: ``RoutingError`` when a regex search was given up (`budget`, the steps the message's searches have
    ///   left, ran out) and the condition depends on its test.
    public func matches(_ message: JSONValue, budget: inout RegexBudget) throws(RoutingError) -> Bool {
        guard let condition else { return true }
        return try deciding(&budget) { (budget) throws(CompiledRegex.SearchLimitExceeded) in
            try condition.isSatisfied(by: message, budget: &budget)
        }
    }

    /// Why `message` does not satisfy the rule's condition, or `nil` when it does (``RuleCondition/failure(in:budget:)``).
    /// - Throws: ``RoutingError`` as ``matches(_:budget:)`` does.
    public func failure(in message: JSONValue, budget: inout RegexBudget) throws(RoutingError) -> String? {
        guard let condition else { return nil }
        return try deciding(&budget) { (budget) throws(CompiledRegex.SearchLimitExceeded) in
            try condition.failure(in: message, budget: &budget)
        }
    }

    /// Runs `decide` on the rule's condition: a search given up meanwhile is the rule's (its error names the rule, and
    /// the budget's first one, if it was that, is stamped with it).
    private func deciding<Answer>(
        _ budget: inout RegexBudget, _ decide: (inout RegexBudget) throws(CompiledRegex.SearchLimitExceeded) -> Answer
    ) throws(RoutingError) -> Answer {
        defer { budget.noteRule(name) }
        do {
            return try decide(&budget)
        } catch {
            throw givenUp(error, first: budget.firstGivenUp)
        }
    }

    /// The error for `search`, given up; when an earlier search of the message, one that its condition was decided
    /// without, used the steps up, the error names that one too: it is the one to fix.
    private func givenUp(_ search: CompiledRegex.SearchLimitExceeded, first: CompiledRegex.SearchLimitExceeded?) -> RoutingError {
        var reason = search.description
        // Not yet stamped with a rule, an equal one is this search itself.
        if let first, first != search {
            reason += "; the steps were used up by an earlier search: rule '\(first.rule ?? name)' searching \(first.path ?? "a value") "
                + "(\(first.characters) characters) for /\(first.pattern)/"
        }
        return RoutingError(rule: name, reason: .regexSearchGivenUp(reason))
    }

    /// The events this rule publishes for `message`.
    /// - Throws: ``RoutingError`` when a placeholder has no value, or a topic is invalid or not allowed.
    public func drafts(for message: JSONValue) throws(RoutingError) -> [EventDraft] {
        var drafts: [EventDraft] = []
        drafts.reserveCapacity(events.count)
        for event in events { drafts.append(try draft(event, for: message)) }
        return drafts
    }

    private func draft(_ event: EventTemplate, for message: JSONValue) throws(RoutingError) -> EventDraft {
        let topic: String
        let type: String
        let data: JSONValue
        do throws(TemplateError) {
            topic = try event.topic.renderTopic(in: message)
            type = try event.type.renderText(in: message)
            data = try event.data.render(in: message)
        } catch {
            throw RoutingError(rule: name, reason: .template(error.message))
        }
        if let problem = EventType.validationError(type) {
            throw RoutingError(rule: name, reason: .invalidEventType(problem))
        }
        if let problem = Topic.validationError(topic) {
            throw RoutingError(rule: name, reason: .invalidTopic(problem))
        }
        if let allowed = allowedTopics, !allowed.matches(topic) {
            throw RoutingError(rule: name, reason: .topicNotAllowed(topic: topic, allowed: allowed.patterns.map(\.description)))
        }
        return EventDraft(topic: topic, type: type, data: EventData(data), source: source, rule: name)
    }

    /// The paths the rule reads, in its condition and its templates.
    var paths: [ValuePath] { (condition?.paths ?? []) + events.flatMap(\.paths) }
}
