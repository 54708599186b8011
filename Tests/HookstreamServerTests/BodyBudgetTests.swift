import Dispatch
import Testing

@testable import HookstreamServer

@Suite struct BodyBudgetTests {
    /// Parts are taken while they fit and refused past the limit, taking nothing; what is given back fits again.
    @Test func partsFitUpToTheLimitAndWhatIsGivenBackFitsAgain() {
        let budget = BodyBudget()
        #expect(budget.reserve(600, limit: 1_000))
        #expect(budget.reserve(400, limit: 1_000), "exactly at the limit fits")
        #expect(!budget.reserve(1, limit: 1_000))
        #expect(budget.heldBytes == 1_000, "a refusal takes nothing")
        budget.release(600)
        #expect(budget.reserve(500, limit: 1_000))
        #expect(budget.heldBytes == 900)
    }

    /// Many threads near the limit at once: exactly as many parts are taken as fit, none more (the bound holds)
    /// and none fewer (a part that fits is not refused because another was being refused at the same moment).
    @Test func concurrentPartsTakeExactlyWhatFits() {
        let budget = BodyBudget()
        let taken = DispatchQueue(label: "taken")
        nonisolated(unsafe) var count = 0
        DispatchQueue.concurrentPerform(iterations: 10_000) { _ in
            if budget.reserve(7, limit: 7_000) { taken.sync { count += 1 } }
        }
        #expect(count == 1_000)
        #expect(budget.heldBytes == 7_000)
    }

    /// A flood of refusals is logged as a count, at most once per interval.
    @Test func refusalsAreLoggedOncePerIntervalWithTheirCount() {
        let budget = BodyBudget()
        #expect(budget.refusalToLog(now: 1_000) == 1)
        for i in 0..<5 { #expect(budget.refusalToLog(now: 2_000 + UInt64(i)) == nil) }
        #expect(budget.refusalToLog(now: 1_000 + RefusalLog.interval) == 6)
    }
}
