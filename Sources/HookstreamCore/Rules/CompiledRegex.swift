/// A regular expression from a rule, compiled once when the config is loaded.
///
/// `Regex<AnyRegexOutput>` is not declared `Sendable` (its output type can hold anything). This one only ever
/// answers whether it matches, and it is lowered to its matching program before it is shared (in `init`), after
/// which matching only reads it: sharing it between threads is safe.
public final class CompiledRegex: @unchecked Sendable {
    /// The pattern as written.
    public let pattern: String
    private let regex: Regex<AnyRegexOutput>

    /// Compiles `pattern` (Swift `Regex` syntax, which is PCRE-like); throws with the compiler's message.
    public init(_ pattern: String) throws(CompiledRegex.SyntaxError) {
        do {
            regex = try Regex(pattern)
        } catch {
            throw SyntaxError(pattern: pattern, message: "\(error)")
        }
        self.pattern = pattern
        // Lower the program now, on one thread, rather than lazily on the first match of whichever thread.
        _ = "".contains(regex)
    }

    /// Whether the expression matches somewhere in `text`.
    public func matches(_ text: String) -> Bool {
        text.contains(regex)
    }

    /// A pattern that does not compile.
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var pattern: String
        public var message: String
        public var description: String { "invalid regular expression /\(pattern)/: \(message)" }
    }
}
