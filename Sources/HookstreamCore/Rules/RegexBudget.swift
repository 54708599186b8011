/// The steps a message's regex searches may take together, so that routing one message holds its event loop for
/// a bounded time however many regex tests its rules have.
///
/// ``defaultLimit`` is 50 million steps, about a quarter of a second (a step took 3.5–5 ns on the 2-core machine
/// the benchmarks ran on): a pattern of 20-odd instructions searches a 1 MiB value within it (about ten steps a
/// character). A search that would go past what is left stops, and the message fails.
public struct RegexBudget: Sendable {
    /// The steps the message started with.
    public let limit: Int
    /// The steps not used yet.
    public internal(set) var left: Int
    /// The message's first search given up, with its path and rule. Every later search finds no steps left because
    /// of it, and one that a condition was decided without (in an `any` that held by another test) is known only here.
    public internal(set) var firstGivenUp: CompiledRegex.SearchLimitExceeded?

    /// Read by the message's searches as they go: once it is set they stop, unanswered (``isAbandoned``).
    public let abandonment: RegexAbandonment?

    /// 50 million steps.
    public static let defaultLimit = 50_000_000

    public init(limit: Int = RegexBudget.defaultLimit, abandonment: RegexAbandonment? = nil) {
        self.limit = limit
        self.left = limit
        self.abandonment = abandonment
    }

    /// Whether the message's searches were told to stop: what they answered (or the routing error) means nothing.
    public var isAbandoned: Bool { abandonment?.isAbandoned ?? false }

    /// `search`, given up reading `path`, noted if it is the message's first.
    mutating func gaveUp(_ search: CompiledRegex.SearchLimitExceeded, reading path: ValuePath) -> CompiledRegex.SearchLimitExceeded {
        let located = search.reading(path)
        if firstGivenUp == nil { firstGivenUp = located }
        return located
    }

    /// Names `rule` as the one whose condition gave up the first search, if that happened while it was tried.
    mutating func noteRule(_ rule: String) {
        if firstGivenUp != nil, firstGivenUp?.rule == nil { firstGivenUp?.rule = rule }
    }
}
