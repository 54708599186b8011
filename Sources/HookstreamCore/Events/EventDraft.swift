/// An event that a rule has produced but the store has not yet numbered.
public struct EventDraft: Sendable, Hashable {
    public var topic: String
    /// The SSE `event:` field.
    public var type: String
    public var data: EventData
    /// The source it came in by (`demo`, `local`, ...).
    public var source: String
    /// The rule that produced it.
    public var rule: String

    /// - Parameter topic: taken in its composed form (``Topic/canonical(_:)``).
    public init(topic: String, type: String, data: EventData, source: String, rule: String) {
        self.topic = Topic.canonical(topic)
        self.type = type
        self.data = data
        self.source = source
        self.rule = rule
    }
}
