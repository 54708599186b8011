import Foundation

/// A topic pattern that a JWT grants, with `{sub}` standing for the token's subject: `users/{sub}/**`.
///
/// The subject is inserted as literal text within one segment: a subject that holds `/`, `*`, whitespace, or is
/// empty, `.` or `..`, makes the template grant nothing, so no subject can widen a grant.
public struct GrantTemplate: Sendable, Hashable, CustomStringConvertible {
    /// The template as written.
    public let description: String

    /// Parses `text`; throws when it is not a topic pattern (with a placeholder subject in place of `{sub}`).
    public init(_ text: String) throws(TopicPatternError) {
        if let lookalike = Template.lookalikePlaceholder(in: text.replacingPlaceholder(with: "subject")) {
            throw TopicPatternError(pattern: text, message: "'\(lookalike)' is no placeholder: a grant has one, {sub}, the token's subject")
        }
        do throws(TopicPatternError) {
            _ = try TopicPattern(text.replacingPlaceholder(with: "subject"))
        } catch {
            throw TopicPatternError(pattern: text, message: error.message)
        }
        self.description = text
    }

    /// Whether the template names the subject.
    public var usesSubject: Bool { description.contains("{sub}") }

    /// The pattern for a token with subject `subject`; `nil` when the subject cannot stand in one segment.
    public func pattern(subject: String?) -> TopicPattern? {
        guard usesSubject else { return try? TopicPattern(description) }
        guard let subject, GrantTemplate.isSafeSegmentText(subject) else { return nil }
        return try? TopicPattern(description.replacingPlaceholder(with: subject))
    }

    static func isSafeSegmentText(_ text: String) -> Bool {
        guard !text.isEmpty, text != ".", text != ".." else { return false }
        return !text.unicodeScalars.contains { $0 == "/" || $0 == "*" || $0 == "{" || $0 == "}" || $0.value < 0x21 || $0.properties.isWhitespace }
    }
}

extension String {
    fileprivate func replacingPlaceholder(with value: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let range = rest.range(of: "{sub}") {
            out += rest[rest.startIndex..<range.lowerBound]
            out += value
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
