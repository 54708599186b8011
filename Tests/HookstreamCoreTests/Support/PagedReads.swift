import HookstreamCore
import Testing

/// Reads every event of `filter` after 0 from `store` in pages of at most `limit` events and about `maxBytes`, the
/// way a replay does, and checks each page against the contract of ``EventStore/events(after:matching:limit:maxBytes:)``.
/// Returns the ids read, in order.
func readInPages(_ store: any EventStore, _ filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> [EventID] {
    var ids: [EventID] = []
    var cursor: EventID = 0
    for _ in 0..<10_000 {
        let page = try await store.events(after: cursor, matching: filter, limit: limit, maxBytes: maxBytes)
        #expect(page.count <= limit)
        // The budget is passed by the last event at most: the page without it is under the budget.
        #expect(Array(page.dropLast()).pageBytes < maxBytes, "a page of \(page.pageBytes) bytes for a budget of \(maxBytes)")
        ids += page.map(\.id)
        guard let last = page.last, page.count == limit || page.pageBytes >= maxBytes else { return ids }
        cursor = last.id
    }
    Issue.record("the pages did not end")
    return ids
}

/// 200 events, one append each: one on each of `t/0` … `t/39`, then the rest on `t/0` … `t/3`; the 60th to the 139th
/// of 200 KB, the others of 50 bytes (a replay meets small events, then large ones, then small again, and one topic's
/// large events pass a page's budget many times over). Returns each event's id and topic.
func appendMixedSizes(to store: any EventStore) async throws -> [(id: EventID, topic: String)] {
    var appended: [(id: EventID, topic: String)] = []
    for index in 0..<200 {
        let size = index >= 60 && index < 140 ? 200_000 : 50
        let topic = index < 40 ? "t/\(index)" : "t/\(index % 4)"
        let draft = EventDraft(topic: topic, type: "message", data: .text(String(repeating: "x", count: size)), source: "test", rule: "r")
        let event = try #require(try await store.append([draft]).first)
        appended.append((event.id, event.topic))
    }
    return appended
}

/// The three kinds of filter a store may read differently: every topic, three, and 35 of the 40.
func mixedSizeFilters() throws -> [(filter: TopicFilter, topics: Set<String>)] {
    let every = Set((0..<40).map { "t/\($0)" })
    let few: Set<String> = ["t/1", "t/2", "t/3"]
    let many = Set((0..<35).map { "t/\($0)" })
    return [
        (TopicFilter([try TopicPattern("t/**")]), every),
        (TopicFilter(try few.sorted().map(TopicPattern.init)), few),
        (TopicFilter(try many.sorted().map(TopicPattern.init)), many),
    ]
}

/// Reads what ``appendMixedSizes(to:)`` appended through each of ``mixedSizeFilters()``, in pages of 1,000 and of 7
/// events, and expects every event of the filter's topics once, in order.
func expectPagesOfMixedSizes(_ store: any EventStore, appended: [(id: EventID, topic: String)]) async throws {
    for (filter, topics) in try mixedSizeFilters() {
        let expected = appended.filter { topics.contains($0.topic) }.map(\.id)
        #expect(try await readInPages(store, filter, limit: 1000, maxBytes: 1 << 20) == expected, "\(filter.patterns.count) patterns")
        #expect(try await readInPages(store, filter, limit: 7, maxBytes: 1 << 20) == expected, "\(filter.patterns.count) patterns, 7 a page")
    }
}
