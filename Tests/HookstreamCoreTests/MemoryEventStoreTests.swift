import Testing

@testable import HookstreamCore

@Suite struct MemoryEventStoreTests {
    private func draft(_ topic: String, _ text: String = "x") -> EventDraft {
        EventDraft(topic: topic, type: "message", data: .text(text), source: "test", rule: "r")
    }

    /// Pages bounded by bytes as well as by count: every event once, in order, no page past its budget by more than
    /// its last event.
    @Test func pagesStopAtTheirByteBudgetAndSkipNothing() async throws {
        let store = MemoryEventStore()
        let appended = try await appendMixedSizes(to: store)
        try await expectPagesOfMixedSizes(store, appended: appended)
    }

    /// A topic left with no event by retention is forgotten (one topic per user would otherwise be walked by every
    /// read and retention pass, for good); its mark is kept apart, its own: a resume from before it gets its reset,
    /// other topics are not affected, and the topic comes back with its next event, and its mark.
    @Test func aTopicWithNoEventLeftIsForgottenAndItsMarkKept() async throws {
        let clock = SQLiteEventStoreTests.TestClock()
        let store = MemoryEventStore(now: clock.now)
        for _ in 0..<3 { _ = try await store.append([draft("users/1")]) }
        clock.advance(by: 10_000)
        for _ in 0..<2 { _ = try await store.append([draft("users/2")]) }
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 100, maxAge: .seconds(5)), now: clock.now()) == 3)
        #expect(store.topicCount == 1, "users/1 forgotten")
        let one = TopicFilter([try TopicPattern("users/1")])
        #expect(try await store.prunedThrough(matching: one) == 3)
        #expect(try await store.prunedThrough(matching: TopicFilter([try TopicPattern("users/2")])) == 0, "its own mark only")
        #expect(try await store.prunedThrough(matching: TopicFilter([try TopicPattern("users/*")])) == 3)
        #expect(try await store.append([draft("users/1")]).map(\.id) == [6])
        #expect(store.topicCount == 2)
        #expect(try await store.events(after: 0, matching: one, limit: 10).map(\.id) == [6])
        #expect(try await store.prunedThrough(matching: one) == 3, "back, with its mark")
    }

    @Test func retentionKeepsAtMostMaxEventsAcrossTopicsOldestFirst() async throws {
        let store = MemoryEventStore()
        try await expectMaxEventsAcrossTopics(store, topicCount: { store.topicCount })
    }

    @Test func forgottenMarksPastTheirBoundFoldIntoOne() async throws {
        try await expectForgottenMarksToFoldPastTheirBound(MemoryEventStore())
    }

    @Test func theStoresBoundCountsWhatTheTopicsBoundsLeft() async throws {
        try await expectTheStoresBoundToCountWhatTheTopicsBoundsLeft(MemoryEventStore())
    }

    @Test func idsAreConsecutiveAndIncreasing() async throws {
        let store = MemoryEventStore()
        let first = try await store.append([draft("a"), draft("b")])
        let second = try await store.append([draft("a")])
        #expect(first.map(\.id) == [1, 2])
        #expect(second.map(\.id) == [3])
        #expect(try await store.lastEventID() == 3)
    }

    @Test func readAfterFiltersByTopicAndLimits() async throws {
        let store = MemoryEventStore()
        for i in 0..<10 { _ = try await store.append([draft(i.isMultiple(of: 2) ? "even/\(i)" : "odd/\(i)")]) }
        let filter = TopicFilter([try TopicPattern("even/*")])
        #expect(try await store.events(after: 0, matching: filter, limit: 100).map(\.id) == [1, 3, 5, 7, 9])
        #expect(try await store.events(after: 3, matching: filter, limit: 2).map(\.id) == [5, 7])
        #expect(try await store.events(after: 9, matching: filter, limit: 100).isEmpty)
    }

    @Test func eachTopicKeepsItsNewestEventsOnly() async throws {
        let store = MemoryEventStore(maximumEventsPerTopic: 3)
        for _ in 0..<200 { _ = try await store.append([draft("busy")]) }
        _ = try await store.append([draft("quiet")])
        let all = TopicFilter([try TopicPattern("**")])
        #expect(try await store.events(after: 0, matching: all, limit: 100).map(\.id) == [198, 199, 200, 201])
    }
}
