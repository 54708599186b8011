/// A subscription pattern over topics: `*` matches exactly one segment, a final `**` any number (zero or more).
///
/// ```swift
/// let pattern = try TopicPattern("deploys/*")
/// pattern.matches("deploys/api")      // true
/// pattern.matches("deploys/api/eu")   // false
/// try TopicPattern("users/42/**").matches("users/42/alerts/x")  // true
/// ```
public struct TopicPattern: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        case literal(Substring)
        case one
        case rest
    }

    let segments: [Segment]
    /// The pattern as written.
    public let description: String

    /// Parses a pattern, or throws ``TopicPatternError`` with a message a user can act on.
    public init(_ text: String) throws(TopicPatternError) {
        let text = Topic.canonical(text)  // matched against topics in the form they are stored in
        guard !text.isEmpty else { throw TopicPatternError(pattern: text, message: "a topic pattern must not be empty") }
        guard text.utf8.count <= Topic.maximumLength else {
            throw TopicPatternError(pattern: text, message: "a topic pattern is at most \(Topic.maximumLength) bytes")
        }
        if !text.utf8.allSatisfy({ $0 < 0x80 }), let problem = Topic.nonASCIIProblem(text) {
            throw TopicPatternError(pattern: text, message: problem)
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        var segments: [Segment] = []
        segments.reserveCapacity(parts.count)
        for (i, part) in parts.enumerated() {
            switch part {
            case "": throw TopicPatternError(pattern: text, message: "empty segment")
            // No topic has one (``Topic``): such a pattern matches nothing, and `a/42/../43` reads like a path.
            case ".", "..": throw TopicPatternError(pattern: text, message: "'.' and '..' segments match no topic")
            case "*": segments.append(.one)
            case "**":
                guard i == parts.count - 1 else {
                    throw TopicPatternError(pattern: text, message: "'**' may only be the last segment")
                }
                segments.append(.rest)
            default:
                if part.contains("*") {
                    throw TopicPatternError(pattern: text, message: "'*' must be a whole segment")
                }
                if part.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) {
                    throw TopicPatternError(pattern: text, message: "whitespace or a control character")
                }
                segments.append(.literal(part))
            }
        }
        self.segments = segments
        self.description = text
    }

    /// Whether `topic` is matched by this pattern.
    public func matches(_ topic: String) -> Bool {
        matches(segments: topic.split(separator: "/", omittingEmptySubsequences: false))
    }

    /// Whether a topic, already split into its segments, is matched by this pattern.
    public func matches(segments topic: [Substring]) -> Bool {
        var i = 0
        for segment in segments {
            switch segment {
            case .rest:
                return true
            case .one:
                guard i < topic.count else { return false }
            case .literal(let literal):
                guard i < topic.count, topic[i] == literal else { return false }
            }
            i += 1
        }
        return i == topic.count
    }

    /// Whether every topic that `other` can match is also matched by this pattern.
    ///
    /// This is how a subscription is authorised: the token's grant must cover the requested pattern.
    public func covers(_ other: TopicPattern) -> Bool {
        var i = 0
        for segment in segments {
            switch segment {
            case .rest:
                return true
            case .one:
                guard i < other.segments.count else { return false }
                if case .rest = other.segments[i] { return false }
            case .literal(let literal):
                guard i < other.segments.count, case .literal(let theirs) = other.segments[i], theirs == literal else {
                    return false
                }
            }
            i += 1
        }
        return i == other.segments.count
    }
}
