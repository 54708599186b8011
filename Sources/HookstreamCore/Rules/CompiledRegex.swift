/// A regular expression from a rule, compiled once when the config is loaded.
///
/// Matching runs on the event loop that routes the webhook, so its cost must be bounded by the size of the value
/// it reads: the pattern is compiled to an automaton (`RegexProgram`) that `PikeVM` runs in one pass, in time
/// O(pattern × text) and without backtracking. Swift's `Regex` backtracks, so a single value could hold every
/// stream of the daemon for minutes (`^(a+)+$` on 22 `a`s and a `b`: 409 s). The price is a PCRE-like subset:
/// constructs that need backtracking (backreferences, lookaround, atomic groups, conditionals, recursion) are
/// refused when the pattern is compiled, with a message that says so.
///
/// Text is matched as Unicode scalars, not as `Character`s: `.` consumes one scalar, so `é` written as `e` and a
/// combining accent is two. `\d` and `\w` (and `\b`) are ASCII; `\s` is Unicode whitespace; `(?i)` compares simple
/// case mappings.
///
/// ```swift
/// let failed = try CompiledRegex(#"^deploy(ment)? \w+ failed$"#)
/// failed.matches("deploy api failed")  // true
/// ```
public final class CompiledRegex: Sendable {
    /// The pattern as written.
    public let pattern: String
    let program: RegexProgram

    /// Compiles `pattern`.
    ///
    /// - Parameters:
    ///   - pattern: A PCRE-like regular expression (see the README for the subset).
    /// - Throws: `SyntaxError` when the pattern is malformed, uses a construct that needs backtracking, or would
    ///   compile to too large a program.
    public init(_ pattern: String) throws(CompiledRegex.SyntaxError) {
        var parser = RegexParser(pattern)
        program = try RegexProgram(try parser.parse(), pattern: pattern)
        self.pattern = pattern
    }

    /// Whether the expression matches somewhere in `text` (it is anchored only where it says `^`, `$`, `\A`...).
    ///
    /// - Parameters:
    ///   - text: The value to search, read as Unicode scalars.
    public func matches(_ text: String) -> Bool {
        var machine = PikeVM(program)
        return machine.matches(text.unicodeScalars)
    }

    /// Whether the expression matches in `text`, and how many instructions the search visited: a seam for tests
    /// that check the cost stays proportional to the program's size times the text's length.
    func matchesCountingSteps(_ text: String) -> (matches: Bool, steps: Int) {
        var machine = PikeVM(program)
        let matches = machine.matches(text.unicodeScalars)
        return (matches, machine.steps)
    }

    /// A pattern that does not compile.
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var pattern: String
        public var message: String
        public var description: String { "invalid regular expression /\(pattern)/: \(message)" }
    }
}
