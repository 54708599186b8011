import Testing

@testable import HookstreamServer

@Suite struct ReplayBudgetTests {
    /// Replays past the budget wait, in the order they asked, and are let in as pages are written; a page larger
    /// than the whole budget goes alone. Bad input: a reservation of more than the limit.
    @Test func replaysPastTheBudgetWaitInTurnAndAreLetInAsPagesAreWritten() async throws {
        let budget = ReplayBudget()
        #expect(await budget.reserve(4, limit: 10) == 4)
        #expect(budget.tryReserve(4, limit: 10) == 4)
        #expect(budget.tryReserve(4, limit: 10) == nil, "8 of 10 held: 4 more do not fit")
        #expect(budget.usage.held == 8)

        let order = Order()
        let first = Task { _ = await budget.reserve(4, limit: 10); await order.append(1) }
        while budget.usage.waiting < 1 { await Task.yield() }
        let second = Task { _ = await budget.reserve(2, limit: 10); await order.append(2) }
        while budget.usage.waiting < 2 { await Task.yield() }
        #expect(budget.tryReserve(1, limit: 10) == nil, "nobody goes ahead of those waiting")

        budget.release(4)  // 4 held: the first (4) fits, then the second (2): 10
        await first.value
        await second.value
        #expect(await order.values == [1, 2])
        #expect(budget.usage.held == 10)

        // A page that came out larger than its reservation is counted whole, past the limit.
        budget.take(3)
        #expect(budget.usage.held == 13)
        budget.release(13)
        // Bad input: more than the limit. It is taken as the limit, and only once nothing else is held.
        #expect(budget.tryReserve(1, limit: 10) == 1)
        let large = Task { await budget.reserve(50, limit: 10) }
        while budget.usage.waiting < 1 { await Task.yield() }
        budget.release(1)
        #expect(await large.value == 10)
        budget.release(10)
        #expect(budget.usage.held == 0 && budget.usage.waiting == 0)
    }

    private actor Order {
        var values: [Int] = []
        func append(_ value: Int) { values.append(value) }
    }
}
