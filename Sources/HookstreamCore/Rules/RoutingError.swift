/// Why a message matched by a rule could not be turned into an event.
public struct RoutingError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case template(String)
        case invalidTopic(String)
        case invalidEventType(String)
        case topicNotAllowed(topic: String, allowed: [String])
        /// A regex search of the rule's condition took more than its step limit.
        case regexSearchGivenUp(String)
    }

    public var rule: String
    public var reason: Reason

    public var description: String {
        switch reason {
        case .template(let message), .invalidTopic(let message), .invalidEventType(let message), .regexSearchGivenUp(let message):
            return "rule '\(rule)': \(message)"
        case .topicNotAllowed(let topic, let allowed):
            return "topic '\(topic)' not allowed: rule '\(rule)' may publish only to \(allowed.joined(separator: ", "))"
        }
    }
}
