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

    /// 50 million steps.
    public static let defaultLimit = 50_000_000

    public init(limit: Int = RegexBudget.defaultLimit) {
        self.limit = limit
        self.left = limit
    }
}
