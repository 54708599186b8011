/// Rules for topic names: `/`-separated, non-empty segments, no wildcards, no whitespace or control characters.
public enum Topic {
    /// Longest topic name accepted, in UTF-8 bytes.
    public static let maximumLength = 256

    /// Why `name` is not a valid topic, or `nil` when it is.
    public static func validationError(_ name: String) -> String? {
        if name.isEmpty { return "a topic must not be empty" }
        if name.utf8.count > maximumLength { return "a topic is at most \(maximumLength) bytes" }
        for segment in name.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "topic '\(name)' has an empty segment" }
            if segment == "*" || segment == "**" || segment.contains("*") {
                return "topic '\(name)' contains a wildcard; wildcards belong in subscriptions"
            }
            if segment.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
                return "topic '\(name)' contains whitespace or a control character"
            }
        }
        return nil
    }

    /// Whether `name` is a valid topic.
    public static func isValid(_ name: String) -> Bool { validationError(name) == nil }
}
