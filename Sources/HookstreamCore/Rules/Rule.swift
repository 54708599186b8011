/// A compiled routing rule: which messages of a source it takes, and the event it publishes for each.
public struct Rule: Sendable {
    public var name: String
    public var source: String
    /// All must hold for the rule to match.
    public var conditions: [RuleCondition]
    public var topic: Template
    public var type: Template
    public var data: DataTemplate
    /// Topics this rule may publish to; `nil` allows any.
    public var allowedTopics: TopicFilter?

    public init(
        name: String, source: String, conditions: [RuleCondition] = [], topic: Template, type: Template,
        data: DataTemplate, allowedTopics: TopicFilter? = nil
    ) {
        self.name = name
        self.source = source
        self.conditions = conditions
        self.topic = topic
        self.type = type
        self.data = data
        self.allowedTopics = allowedTopics
    }

    /// Whether every condition holds for `context`.
    public func matches(_ context: JSONValue) -> Bool {
        conditions.allSatisfy { $0.isSatisfied(by: context) }
    }

    /// The event this rule publishes for `context`.
    /// - Throws: ``RoutingError`` when a placeholder has no value, or the topic is invalid or not allowed.
    public func draft(for context: JSONValue) throws(RoutingError) -> EventDraft {
        let topic: String
        let type: String
        let data: JSONValue
        do throws(TemplateError) {
            topic = try self.topic.renderText(in: context)
            type = try self.type.renderText(in: context)
            data = try self.data.render(in: context)
        } catch {
            throw RoutingError(rule: name, reason: .template(error.message))
        }
        if let problem = Topic.validationError(topic) {
            throw RoutingError(rule: name, reason: .invalidTopic(problem))
        }
        if let allowed = allowedTopics, !allowed.matches(topic) {
            throw RoutingError(rule: name, reason: .topicNotAllowed(topic: topic, allowed: allowed.patterns.map(\.description)))
        }
        return EventDraft(topic: topic, type: type, data: EventData(data), source: source, rule: name)
    }
}
