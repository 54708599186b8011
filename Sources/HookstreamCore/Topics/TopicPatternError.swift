/// A topic pattern that cannot be parsed.
public struct TopicPatternError: Error, Sendable, CustomStringConvertible {
    public var pattern: String
    public var message: String
    public var description: String { "invalid topic pattern '\(pattern)': \(message)" }
}
