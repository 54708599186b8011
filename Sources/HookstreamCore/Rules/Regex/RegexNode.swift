/// A parsed regular expression, before it is compiled into a `RegexProgram`.
///
/// Groups and flags are gone by this stage: a group is only its contents (nothing is captured, since a rule only
/// asks whether a value matches), and `(?i)`, `(?s)` and `(?m)` have been folded into the nodes they govern.
indirect enum RegexNode: Sendable, Equatable {
    /// Matches the empty string (`()`, an empty alternative, `x{0}`).
    case empty
    /// One scalar, compared exactly.
    case scalar(Unicode.Scalar)
    /// One scalar from a set (a class, a shorthand such as `\d`, or a literal under `(?i)`).
    case set(ScalarSet)
    /// `.`: any scalar, or any but `\n` unless `(?s)` was given.
    case any(matchesNewline: Bool)
    case assertion(RegexAssertion)
    case concatenation([RegexNode])
    case alternation([RegexNode])
    /// `maximum` is `nil` for an unbounded repetition. Lazy and possessive forms are parsed to this too: for a
    /// yes/no answer a lazy quantifier matches the same texts, and possessive ones are accepted as greedy.
    case repetition(RegexNode, minimum: Int, maximum: Int?)

    /// How many instructions `RegexProgram` emits for this node, saturating at `limit + 1`, so that a nest of
    /// counted repetitions is refused before it is expanded rather than after.
    func programSize(limit: Int) -> Int {
        let cap = limit + 1
        func add(_ a: Int, _ b: Int) -> Int { min(cap, a + b) }
        func multiply(_ a: Int, _ b: Int) -> Int {
            let (product, overflow) = a.multipliedReportingOverflow(by: b)
            return overflow ? cap : min(cap, product)
        }
        switch self {
        case .empty: return 0
        case .scalar, .set, .any, .assertion: return 1
        case .concatenation(let items): return items.reduce(0) { add($0, $1.programSize(limit: limit)) }
        case .alternation(let branches):
            // A split before each branch but the last, and a jump after each branch but the last.
            let body = branches.reduce(0) { add($0, $1.programSize(limit: limit)) }
            return add(body, 2 * (branches.count - 1))
        case .repetition(let child, let minimum, let maximum):
            let size = child.programSize(limit: limit)
            let required = multiply(size, minimum)
            guard let maximum else {
                // x{0,} is split, x, jump; x{m,} with m > 0 repeats the last copy with one split.
                return add(required, minimum == 0 ? add(size, 2) : 1)
            }
            return add(required, multiply(add(size, 1), maximum - minimum))
        }
    }

    /// Whether every match must start at the start of the text, so the search need not try later positions.
    var isAnchoredAtStart: Bool {
        switch self {
        case .assertion(.startOfText): true
        case .concatenation(let items): items.first?.isAnchoredAtStart ?? false
        case .alternation(let branches): branches.allSatisfy(\.isAnchoredAtStart)
        case .repetition(let child, let minimum, _): minimum > 0 && child.isAnchoredAtStart
        default: false
        }
    }
}
