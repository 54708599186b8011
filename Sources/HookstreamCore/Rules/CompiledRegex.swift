/// A regular expression from a rule, compiled once when the config is loaded.
///
/// Matching runs on the event loop that routes the webhook, so its cost must be bounded by the size of the value
/// it reads: the pattern is compiled to an automaton (`RegexProgram`) that `PikeVM` runs in one pass, in time
/// O(pattern × text) and without backtracking. That product can still be large (`[a-z]{1,100}x` on a 1 MiB body
/// is 400 million steps, two seconds of the loop), so a search also stops when it would take more than its
/// message's ``RegexBudget`` has left, and throws.
/// Swift's `Regex` backtracks, so a single value could hold every stream of the daemon for minutes (`^(a+)+$` on
/// 22 `a`s and a `b`: 409 s). The price is a PCRE-like subset: constructs that need backtracking (backreferences,
/// lookaround, atomic groups, conditionals, recursion) are refused when the pattern is compiled, with a message
/// that says so.
///
/// Text is matched as Unicode scalars, not as `Character`s: `.` consumes one scalar, so `é` written as `e` and a
/// combining accent is two. `\d` and `\w` (and `\b`) are ASCII; `\s` is Unicode whitespace; `(?i)` compares simple
/// case mappings.
///
/// ```swift
/// let failed = try CompiledRegex(#"^deploy(ment)? \w+ failed$"#)
/// try failed.matches("deploy api failed")  // true
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
    ///   - budget: The steps the message's searches have left; this search's are taken from it.
    /// - Throws: ``SearchLimitExceeded`` when the search would take more steps than `budget` has left.
    public func matches(_ text: String, budget: inout RegexBudget) throws(SearchLimitExceeded) -> Bool {
        if budget.isAbandoned {  // the message's answer means nothing now: no search of it need run
            throw SearchLimitExceeded(pattern: pattern, characters: 0, stepLimit: budget.limit)
        }
        var machine = PikeVM(program, stepLimit: budget.left, abandonment: budget.abandonment)
        let matches = machine.matches(text.unicodeScalars)
        budget.left = max(0, budget.left - machine.steps)
        guard let matches else {
            throw SearchLimitExceeded(pattern: pattern, characters: text.unicodeScalars.count, stepLimit: budget.limit)
        }
        return matches
    }

    /// Whether the expression matches somewhere in `text`, within a budget of its own.
    public func matches(_ text: String) throws(SearchLimitExceeded) -> Bool {
        var budget = RegexBudget()
        return try matches(text, budget: &budget)
    }

    /// Whether the expression matches in `text`, and how many instructions the search visited, with no step limit:
    /// a seam for tests that check the cost stays proportional to the program's size times the text's length.
    func matchesCountingSteps(_ text: String) -> (matches: Bool, steps: Int) {
        var machine = PikeVM(program)
        let matches = machine.matches(text.unicodeScalars) ?? false
        return (matches, machine.steps)
    }

    /// A search that stopped at its message's step limit, unanswered: the value is too long for the pattern.
    public struct SearchLimitExceeded: Error, Sendable, Hashable, CustomStringConvertible {
        public var pattern: String
        /// The length of the value, in Unicode scalars.
        public var characters: Int
        /// The steps the message's searches could take (``RegexBudget/limit``).
        public var stepLimit: Int
        /// Where the value was read (`body.message`), when a rule's condition knows it.
        public var path: String?
        /// The rule whose condition searched, once the rule knows it.
        public var rule: String?

        /// The same, saying where the value was read.
        func reading(_ path: ValuePath) -> SearchLimitExceeded {
            var located = self
            located.path = path.description
            return located
        }

        public var description: String {
            "searching \(path ?? "a value") (\(characters) characters) for /\(pattern)/ took the message's regex "
                + "searches past \(stepLimit) steps, so the search was given up: shorten the value, or simplify the "
                + "pattern or anchor it at the start"
        }
    }

    /// A pattern that does not compile.
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var pattern: String
        public var message: String
        public var description: String { "invalid regular expression /\(pattern)/: \(message)" }
    }
}
