/// Random patterns over the part of the regex syntax where `CompiledRegex` and Swift's `Regex` must agree, each
/// as a pair: ours, and the same expression in Swift's dialect.
///
/// Where the two differ on purpose, or where Swift's `Regex` departs from PCRE and Perl, the generator steers
/// clear: `$` is written `\Z` for Swift (ours also holds before a final newline, as PCRE's does; Swift's does
/// not), and a group holding an anchor or `\b` is not given an unbounded count of two or more (Swift's `Regex`
/// then refuses to count an empty iteration towards the minimum: `(^|b){2,}_` does not match `b_` in it, but does
/// in PCRE, Perl and Python).
struct RegexPatternGenerator {
    var random: FuzzInput
    /// Named groups so far: names must differ within a pattern.
    private var names = 0

    init(random: FuzzInput) { self.random = random }

    /// A fragment of a pattern in both dialects, and whether it holds an anchor or word boundary.
    private typealias Fragment = (ours: String, swift: String, hasAssertion: Bool)

    /// The characters the generated texts are made of: some that classes tell apart, and a newline for anchors.
    static let alphabet: [String] = ["a", "b", "c", "A", "B", "1", "_", " ", "-", ".", "\n"]

    mutating func text() -> String {
        (0..<Int.random(in: 0...8, using: &random)).map { _ in random.pick(RegexPatternGenerator.alphabet) }.joined()
    }

    mutating func pattern() -> (ours: String, swift: String) {
        names = 0
        let fragment = alternation(depth: 2)
        return random.chance(15) ? ("(?i)" + fragment.ours, "(?i)" + fragment.swift) : (fragment.ours, fragment.swift)
    }

    private mutating func alternation(depth: Int) -> Fragment {
        let count = random.chance(25) ? Int.random(in: 2...3, using: &random) : 1
        let branches = (0..<count).map { _ in concatenation(depth: depth) }
        return (
            branches.map(\.ours).joined(separator: "|"), branches.map(\.swift).joined(separator: "|"),
            branches.contains { $0.hasAssertion }
        )
    }

    private mutating func concatenation(depth: Int) -> Fragment {
        var result: Fragment = ("", "", false)
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let (atom, isRepeatable) = self.atom(depth: depth)
            result.ours += atom.ours
            result.swift += atom.swift
            result.hasAssertion = result.hasAssertion || atom.hasAssertion
            if isRepeatable && random.chance(35) {
                var quantifiers = ["*", "+", "?", "{2}", "{0,2}", "{1,3}", "*?", "+?", "??", "{1,2}?"]
                if !atom.hasAssertion { quantifiers.append("{2,}") }
                let quantifier = random.pick(quantifiers)
                result.ours += quantifier
                result.swift += quantifier
            }
        }
        return result
    }

    private mutating func atom(depth: Int) -> (Fragment, isRepeatable: Bool) {
        switch Int.random(in: 0..<20, using: &random) {
        case 0..<7:
            let literal = random.pick(["a", "b", "c", "A", "1", "-", #"\."#, #"\n"#, " "])
            return ((literal, literal, false), true)
        case 7..<12:
            let set = random.pick([".", "[ab]", "[^a]", "[a-c]", "[^b-c1]", #"\d"#, #"\w"#, #"\s"#, #"\W"#, #"\D"#, "[a-cA]", #"[\d_]"#, #"[^\s]"#])
            return ((set, set, false), true)
        case 12..<14:
            let anchor = random.pick(["^", "$", #"\b"#, #"\B"#, #"\A"#, #"\z"#])
            return ((anchor, anchor == "$" ? #"\Z"# : anchor, true), false)
        default:
            guard depth > 0 else { return (("a", "a", false), true) }
            let inner = alternation(depth: depth - 1)
            var open = random.pick(["(", "(?:", "(?<n"])
            if open == "(?<n" {
                names += 1
                open += "\(names)>"
            }
            return ((open + inner.ours + ")", open + inner.swift + ")", inner.hasAssertion), true)
        }
    }
}
