/// A set of topic patterns; an event belongs to the filter when any pattern matches its topic.
public struct TopicFilter: Sendable, Hashable {
    public let patterns: [TopicPattern]

    public init(_ patterns: [TopicPattern]) { self.patterns = patterns }

    /// Whether any pattern matches `topic`.
    public func matches(_ topic: String) -> Bool {
        matches(segments: topic.split(separator: "/", omittingEmptySubsequences: false))
    }

    /// Whether any pattern matches a topic already split into segments.
    public func matches(segments: [Substring]) -> Bool {
        patterns.contains { $0.matches(segments: segments) }
    }

    /// Whether some pattern of this filter covers `pattern` (see ``TopicPattern/covers(_:)``).
    public func covers(_ pattern: TopicPattern) -> Bool {
        patterns.contains { $0.covers(pattern) }
    }
}
