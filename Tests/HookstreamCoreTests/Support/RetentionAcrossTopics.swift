import Testing

@testable import HookstreamCore

// What every store does with `store.retention.max_events` and the marks of forgotten topics; the SQLite and the
// memory store's suites run these against their own store.

private func draft(_ topic: String) -> EventDraft {
    EventDraft(topic: topic, type: "message", data: .text("x"), source: "test", rule: "r")
}

private func mark(_ pattern: String, in store: any EventStore) async throws -> EventID {
    try await store.prunedThrough(matching: TopicFilter([try TopicPattern(pattern)]))
}

/// The store keeps `max_events` in all, the oldest going first whatever their topic, and each topic's mark says what
/// it lost. Bad input it bounds: a topic per message, 200 of them.
func expectMaxEventsAcrossTopics(_ store: any EventStore, topicCount: () async throws -> Int) async throws {
    for i in 0..<50 { _ = try await store.append([draft("t\(i % 10)")]) }
    let all = TopicFilter([try TopicPattern("**")])
    #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 100, maxEvents: nil), now: 0) == 0, "no bound, nothing goes")
    let retention = Retention(maxEventsPerTopic: 100, maxEvents: 20)
    #expect(try await store.applyRetention(retention, now: 0) == 30)
    #expect(try await store.events(after: 0, matching: all, limit: 100).map(\.id) == Array(31...50))
    #expect(try await mark("t0", in: store) == 21)
    #expect(try await mark("t9", in: store) == 30)
    #expect(try await store.applyRetention(retention, now: 0) == 0, "nothing more is due")

    for i in 0..<200 { _ = try await store.append([draft("spam/\(i)")]) }
    #expect(try await topicCount() == 210)
    #expect(try await store.applyRetention(retention, now: 0) == 200)
    #expect(try await store.events(after: 0, matching: all, limit: 100).map(\.id) == Array(231...250))
    #expect(try await topicCount() == 20, "the topics left with no event are forgotten")
}

/// Both bounds in one pass: each topic's is applied first, and the store's counts what it left, so it removes no
/// more than it must (cut first, the store's bound left 8 events of b, which b's own bound then cut to 5).
func expectTheStoresBoundToCountWhatTheTopicsBoundsLeft(_ store: any EventStore) async throws {
    for _ in 1...10 { _ = try await store.append([draft("a")]) }
    for _ in 11...20 { _ = try await store.append([draft("b")]) }
    #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 5, maxEvents: 8), now: 0) == 12)
    #expect(try await store.events(after: 0, matching: TopicFilter([try TopicPattern("*")]), limit: 100).map(\.id) == [8, 9, 10, 16, 17, 18, 19, 20])
    #expect(try await mark("a", in: store) == 7)
    #expect(try await mark("b", in: store) == 15)
}

/// Past ``Retention/forgottenTopicMarks`` the lowest marks of forgotten topics fold into one mark of every topic.
/// The marks kept stay their own; the folded ones, and topics never forgotten, read the floor.
func expectForgottenMarksToFoldPastTheirBound(_ store: any EventStore) async throws {
    for i in 1...10 { _ = try await store.append([draft("f\(i)")]) }
    for _ in 0..<5 { _ = try await store.append([draft("live")]) }
    var retention = Retention(maxEventsPerTopic: 100, maxEvents: 5)
    retention.forgottenTopicMarks = 3
    #expect(try await store.applyRetention(retention, now: 0) == 10)
    for (pattern, expected) in [("f9", 9), ("f8", 8), ("f2", 7), ("f7", 7), ("live", 7), ("**", 10), ("*", 10)] as [(String, EventID)] {
        #expect(try await mark(pattern, in: store) == expected, "\(pattern)")
    }
    #expect(try await store.applyRetention(retention, now: 0) == 0)
}
