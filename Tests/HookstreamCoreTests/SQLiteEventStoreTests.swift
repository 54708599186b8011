import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import HookstreamCore

@Suite(.timeLimit(.minutes(2))) struct SQLiteEventStoreTests {
    private func temporaryPath() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hookstream-sqlite-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder.appendingPathComponent("events.db").path
    }

    private func draft(_ topic: String, _ text: String = "x") -> EventDraft {
        EventDraft(topic: topic, type: "message", data: .text(text), source: "test", rule: "r")
    }

    /// A wall clock the test moves by hand.
    final class TestClock: Sendable {
        let millis = NIOLockedValueBox<Int64>(1_000_000)
        func now() -> Int64 { millis.withLockedValue { $0 } }
        func advance(by ms: Int64) { millis.withLockedValue { $0 += ms } }
    }

    @Test func eventsRoundTripWithTheirFields() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath())
        let stored = try await store.append([
            EventDraft(topic: "a/b", type: "deploy", data: .json(#"{"k":[1,2]}"#), source: "demo", rule: "r"),
            EventDraft(topic: "a/c", type: "note", data: .text("line 1\nline 2 ü"), source: "local", rule: "r"),
            EventDraft(topic: "a/ü", type: "déploy", data: .text("multi-byte 🚀 text"), source: "lôcal", rule: "r"),
            // Empty text is bound as an empty string, not as NULL (the columns are NOT NULL).
            EventDraft(topic: "a/d", type: "", data: .text(""), source: "s", rule: "r"),
        ])
        let read = try await store.events(after: 0, matching: TopicFilter([try TopicPattern("a/**")]), limit: 10)
        #expect(read == stored)
    }

    @Test func idsSurviveReopeningAndAreNeverReusedAfterPruning() async throws {
        let path = try temporaryPath()
        let clock = TestClock()
        do {
            let store = try SQLiteEventStore(path: path, now: clock.now)
            for _ in 0..<10 { _ = try await store.append([draft("t")]) }
            clock.advance(by: 60_000)
            // Everything is older than 1 s now: the whole log goes, the newest row included.
            let removed = try await store.applyRetention(Retention(maxEventsPerTopic: 100, maxAge: .seconds(1)), now: clock.now())
            #expect(removed == 10)
            try await store.close()
        }
        let reopened = try SQLiteEventStore(path: path, now: clock.now)
        #expect(try await reopened.lastEventID() == 10)
        #expect(try await reopened.prunedThrough(matching: TopicFilter([try TopicPattern("t")])) == 10)
        #expect(try await reopened.append([draft("t")]).map(\.id) == [11])
    }

    @Test func retentionByCountKeepsTheNewestPerTopic() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath())
        for i in 0..<30 { _ = try await store.append([draft(i.isMultiple(of: 3) ? "rare" : "busy")]) }
        let removed = try await store.applyRetention(Retention(maxEventsPerTopic: 4), now: 0)
        #expect(removed == 16 + 6)  // busy had 20, rare 10
        let busy = try await store.events(after: 0, matching: TopicFilter([try TopicPattern("busy")]), limit: 100)
        let rare = try await store.events(after: 0, matching: TopicFilter([try TopicPattern("rare")]), limit: 100)
        let expectedBusy: [EventID] = [26, 27, 29, 30]
        let expectedRare: [EventID] = [19, 22, 25, 28]
        #expect(busy.map(\.id) == expectedBusy)
        #expect(rare.map(\.id) == expectedRare)
        #expect(try await store.prunedThrough(matching: TopicFilter([try TopicPattern("busy")])) == 24)
        #expect(try await store.prunedThrough(matching: TopicFilter([try TopicPattern("rare")])) == 16)
    }

    @Test func retentionByAgeWithATestClock() async throws {
        let clock = TestClock()
        let store = try SQLiteEventStore(path: try temporaryPath(), now: clock.now)
        for _ in 0..<5 { _ = try await store.append([draft("old")]) }
        clock.advance(by: 10_000)
        for _ in 0..<3 { _ = try await store.append([draft("new")]) }
        let retention = Retention(maxEventsPerTopic: 1000, maxAge: .seconds(5))
        #expect(try await store.applyRetention(retention, now: clock.now()) == 5)
        #expect(try await store.applyRetention(retention, now: clock.now()) == 0, "nothing more is due")
        let all = TopicFilter([try TopicPattern("**")])
        #expect(try await store.events(after: 0, matching: all, limit: 100).map(\.id) == [6, 7, 8])
        clock.advance(by: 6_000)
        #expect(try await store.applyRetention(retention, now: clock.now()) == 3)
    }

    @Test func largeRetentionRunsInChunks() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath())
        let batch = (0..<1000).map { _ in draft("bulk") }
        for _ in 0..<12 { _ = try await store.append(batch) }
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 100), now: 0) == 11_900)
        #expect(try await store.events(after: 0, matching: TopicFilter([try TopicPattern("bulk")]), limit: 1000).count == 100)
    }

    @Test func concurrentAppendsAreGroupedIntoFewerTransactions() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath())
        let ids = try await withThrowingTaskGroup(of: [EventID].self) { group in
            for sender in 0..<16 {
                group.addTask {
                    var ids: [EventID] = []
                    for _ in 0..<50 { ids += try await store.append([draft("s/\(sender)")]).map(\.id) }
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(ids.sorted() == Array(1...800))
        #expect(store.commitCount < 800, "\(store.commitCount) commits for 800 appends")
    }

    @Test func sparseAppendsCommitOnTheCallersThreadOnlyWhenCommitsDoNotWaitForTheDisk() async throws {
        // Appends 20 ms apart: the writer is idle and quiet each time.
        for (sync, expectedInline) in [(SQLiteEventStore.Synchronous.normal, 5), (.full, 0)] {
            let path = try temporaryPath()
            let store = try SQLiteEventStore(path: path, synchronous: sync)
            var ids: [EventID] = []
            for _ in 0..<5 {
                try await Task.sleep(for: .milliseconds(20))
                ids += try await store.append([draft("sparse")]).map(\.id)
            }
            #expect(ids == [1, 2, 3, 4, 5])
            #expect(store.commitCount == 5)
            #expect(store.inlineCommitCount == expectedInline, "store.sync \(sync)")
            try await store.close()
            let reopened = try SQLiteEventStore(path: path)
            #expect(try await reopened.events(after: 0, matching: TopicFilter([try TopicPattern("sparse")]), limit: 10).map(\.id) == ids)
        }
    }

    @Test func checkpointsRunOffTheCommitPathAndKeepTheWALBounded() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path)
        // Each commit adds about two pages to the WAL: 3,000 commits would make it ~24 MiB without checkpoints.
        for i in 0..<3_000 { _ = try await store.append([draft("wal/\(i % 4)")]) }
        let deadline = ContinuousClock.now + .seconds(10)
        while store.checkpointCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(store.checkpointCount >= 1)
        let walBytes = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        #expect(walBytes < 12 * 1024 * 1024, "WAL is \(walBytes) bytes")
        #expect(try await store.events(after: 2_990, matching: TopicFilter([try TopicPattern("wal/*")]), limit: 100).map(\.id) == Array(2_991...3_000))
        try await store.close()
        #expect(try await SQLiteEventStore(path: path).lastEventID() == 3_000)
    }

    @Test func batchesAppendedTogetherShareOneTransactionAndKeepTheirOrder() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath())
        _ = try await store.append([draft("first")])
        let before = store.commitCount
        let numbered: [[Event]] = try await withCheckedThrowingContinuation { continuation in
            store.append(batches: [[draft("a"), draft("b")], [], [draft("c")]]) { continuation.resume(with: $0) }
        }
        #expect(numbered.map { $0.map(\.id) } == [[2, 3], [], [4]])
        #expect(numbered.map { $0.map(\.topic) } == [["a", "b"], [], ["c"]])
        #expect(store.commitCount == before + 1)
    }

    @Test func readsSeekPerTopicOrScan() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath())
        for i in 0..<200 { _ = try await store.append([draft("t/\(i % 50)")]) }
        // 1 topic of 50: seeks.
        #expect(try await store.events(after: 0, matching: TopicFilter([try TopicPattern("t/7")]), limit: 100).map(\.id) == [8, 58, 108, 158])
        // Every topic: a range over ids.
        #expect(try await store.events(after: 195, matching: TopicFilter([try TopicPattern("t/*")]), limit: 100).map(\.id) == [196, 197, 198, 199, 200])
        // 40 of 50 topics: more than seekTopicLimit, so a scan that filters.
        let many = TopicFilter((0..<40).map { try! TopicPattern("t/\($0)") })
        let page = try await store.events(after: 0, matching: many, limit: 10)
        #expect(page.map(\.id) == Array(1...10))
        let tail = try await store.events(after: 190, matching: many, limit: 100)
        let expectedTail: [EventID] = (191...200).filter { ($0 - 1) % 50 < 40 }
        #expect(tail.map(\.id) == expectedTail)
    }

    @Test func aMissingOrUnwritableFolderIsAClearError() throws {
        #expect {
            try SQLiteEventStore(path: "/nonexistent-\(UUID().uuidString)/events.db")
        } throws: { error in
            (error as? StoreError)?.kind == .unavailable && "\(error)".contains("does not exist")
        }
    }
}
