import Foundation
import GRDB
import GRDBSQLite
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import HookstreamCore

@Suite(.timeLimit(.minutes(2))) struct SQLiteEventStoreTests {
    private func temporaryPath() throws -> String {
        let folder = try TemporaryFolder.make("hookstream-sqlite")
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

    /// Pages bounded by bytes as well as by count, read the three ways the store reads (every topic, a few by
    /// their index, many by a walk of the log), from the append log before it is applied and from SQLite after:
    /// every event comes once, in order, and no page passes its budget by more than its last event. (A replay that
    /// met 100-byte events, then 1 MiB ones, used to read 2,000 of the large ones at once.)
    @Test(arguments: [false, true]) func pagesStopAtTheirByteBudgetAndSkipNothing(applied: Bool) async throws {
        let store = try SQLiteEventStore(path: try temporaryPath(), synchronous: .normal, applyDelay: applied ? .milliseconds(1) : .seconds(3600))
        let appended = try await appendMixedSizes(to: store)
        if applied { try await waitFor("the log applied") { store.logBytes == 0 } } else { #expect(store.logBytes > 0) }
        try await expectPagesOfMixedSizes(store, appended: appended)
    }

    /// Unapplied events are held in memory for reads, so an apply starts at once past a batch of bytes as well as
    /// of events: a few large events no longer wait for 1,000 of them (1,000 events of 1 MiB waited in 1 GiB).
    @Test func anApplyStartsAtOnceWhenTheUnappliedEventsReachABatchOfBytes() async throws {
        let limits = SQLiteEventStore.ApplyLimits(batchEvents: 1_000, batchBytes: 64 * 1024, maximumEvents: 100_000, maximumBytes: 1 << 30)
        let store = try SQLiteEventStore(path: try temporaryPath(), synchronous: .normal, applyDelay: .seconds(3_600), applyLimits: limits)
        // 8 KiB of data makes an event of 8,234 page bytes: 7 stay under 64 KiB, the 8th crosses it.
        let text = String(repeating: "b", count: 8 * 1024)
        for _ in 0..<7 { _ = try await store.append([draft("big", text)]) }
        #expect(store.commitCount == 0, "under the batch, nothing is applied before the delay (an hour)")
        _ = try await store.append([draft("big", text)])
        try await waitFor("the log applied and emptied") { store.commitCount == 1 && store.logBytes == 0 }
        #expect(try await store.events(after: 0, matching: TopicFilter([try TopicPattern("big")]), limit: 100).map(\.id) == Array(1...8))
        try await store.close()
    }

    /// Bad input for the store: appends faster than SQLite takes them (here it takes nothing, its apply an hour
    /// away). Past the bytes the store may hold in memory, an append is refused with a store error that says why,
    /// and nothing accepted before is lost: it is applied at close and there after a reopen.
    @Test func appendsAreRefusedPastTheUnappliedBytesAndNothingAcceptedIsLost() async throws {
        let path = try temporaryPath()
        let limits = SQLiteEventStore.ApplyLimits(batchEvents: 1_000, batchBytes: 1 << 30, maximumEvents: 100_000, maximumBytes: 64 * 1024)
        let store = try SQLiteEventStore(path: path, synchronous: .normal, applyDelay: .seconds(3_600), applyLimits: limits)
        let text = String(repeating: "r", count: 8 * 1024)
        var accepted: [EventID] = []
        for _ in 0..<8 { accepted += try await store.append([draft("held", text)]).map(\.id) }
        let refusal = await #expect(throws: StoreError.self, "the 9th append, with 65,880 bytes held") {
            _ = try await store.append([draft("held", text)])
        }
        #expect(refusal?.kind == .writeFailed)
        #expect(refusal?.message.contains("8 events (65880 bytes) wait in memory for SQLite to take them") == true, "\(refusal?.message ?? "")")
        #expect(store.commitCount == 0)
        try await store.close()
        let reopened = try SQLiteEventStore(path: path)
        #expect(try await reopened.events(after: 0, matching: TopicFilter([try TopicPattern("held")]), limit: 100).map(\.id) == accepted)
        #expect(accepted == Array(1...8))
        try await reopened.close()
    }

    /// A new store's files are its user's alone, whatever the umask: they hold every webhook's body. A database its
    /// operator made readable by a group keeps that. Bad input: a umask of 022, which left them readable by every
    /// local user (`scripts/serve` from a shell).
    @Test func aNewStoreIsReadableByItsUserOnly() async throws {
        let previous = umask(0o022)
        defer { umask(previous) }
        let path = try temporaryPath()
        func modes() throws -> [String: String] {
            var modes: [String: String] = [:]
            for suffix in ["", "-wal", "-shm", "-appendlog", "-lock"] {
                let mode = try FileManager.default.attributesOfItem(atPath: path + suffix)[.posixPermissions] as? Int
                modes[suffix] = String(mode ?? -1, radix: 8)
            }
            return modes
        }
        let store = try SQLiteEventStore(path: path)
        _ = try await store.append([draft("a/b", "a webhook's body")])
        #expect(try modes() == ["": "600", "-wal": "600", "-shm": "600", "-appendlog": "600", "-lock": "600"])
        try await store.close()

        #expect(chmod(path, 0o640) == 0)
        let reopened = try SQLiteEventStore(path: path)
        _ = try await reopened.append([draft("a/b")])
        #expect(try modes()[""] == "640", "the operator's permissions are kept")
        try await reopened.close()
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

    /// A topic whose events retention removed, all of them, is forgotten: its name would otherwise be held, and
    /// walked by every retention pass and every read by pattern, for good (one topic per user, say). Its mark stays
    /// its own, in SQLite: a resume from before it gets its reset (after a reopen too), one from its last event
    /// does not, and another topic's mark counts for nobody else (a store-wide mark reset every quiet client on
    /// each reconnect). The topic comes back, readable, with its next event, and keeps its mark.
    @Test func aTopicWithNoEventLeftIsForgottenAndItsMarkKept() async throws {
        let path = try temporaryPath()
        let clock = TestClock()
        let store = try SQLiteEventStore(path: path, now: clock.now)
        // Names beside the range of `users/`: `users-x` sorts before it and `users0` after it (byte order).
        for topic in ["users/1", "users/1", "users/1", "users-x", "users0"] { _ = try await store.append([draft(topic)]) }
        clock.advance(by: 10_000)
        for _ in 0..<2 { _ = try await store.append([draft("users/2")]) }
        #expect(store.topicCount == 4)
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 100, maxAge: .seconds(5)), now: clock.now()) == 5)
        #expect(store.topicCount == 1, "users/1, users-x and users0 forgotten")
        let one = TopicFilter([try TopicPattern("users/1")])
        func mark(_ patterns: String...) async throws -> EventID {
            try await store.prunedThrough(matching: TopicFilter(try patterns.map { try TopicPattern($0) }))
        }
        #expect(try await store.prunedThrough(matching: one) == 3)
        #expect(try await mark("users/2") == 0, "its own mark only")
        #expect(try await mark("users/*") == 3, "not users-x's 4 or users0's 5")
        #expect(try await mark("users/**") == 3)
        #expect(try await mark("users/1/*") == 0, "users/1 is not under it")
        #expect(try await mark("users/1/**") == 3, "users/1 is")
        #expect(try await mark("users-x") == 4)
        #expect(try await mark("**") == 5)
        #expect(try await mark("*/1") == 3)
        #expect(try await mark("user/*", "users/1/x") == 0)
        try await store.close()

        let reopened = try SQLiteEventStore(path: path, now: clock.now)
        #expect(reopened.topicCount == 1)
        #expect(try await reopened.prunedThrough(matching: one) == 3, "the forgotten mark survives a reopen")
        #expect(try await reopened.append([draft("users/1")]).map(\.id) == [8])
        #expect(reopened.topicCount == 2)
        #expect(try await reopened.events(after: 0, matching: one, limit: 10).map(\.id) == [8])
        #expect(try await reopened.prunedThrough(matching: one) == 3, "back, with its mark")
        try await reopened.close()
        let again = try SQLiteEventStore(path: path, now: clock.now)
        #expect(try await again.events(after: 0, matching: one, limit: 10).map(\.id) == [8], "registered again in SQLite")
        try await again.close()
    }

    /// An event appended to a topic while retention forgets that topic (its stored events all aged out): the
    /// event stays readable by its topic, while the store runs and after a reopen. Appended when the retention
    /// step starts, the topic is not forgotten at all; appended once the step has removed the topic from SQLite
    /// (the event was numbered while the topic was still known, so it does not register it as new), the topic
    /// stays in the catalog and the event's apply registers it again.
    @Test(arguments: [SQLiteEventStore.PruneStage.started, .committed])
    func anEventAppendedWhileRetentionForgetsItsTopicStaysReadable(at stage: SQLiteEventStore.PruneStage) async throws {
        let path = try temporaryPath()
        let clock = TestClock()
        let store = try SQLiteEventStore(path: path, synchronous: .normal, applyDelay: .seconds(3_600), now: clock.now)
        _ = try await store.append([draft("users/1")])
        _ = try await store.append([draft("users/1")])
        clock.advance(by: 10_000)
        let late = NIOLockedValueBox<[EventID]>([])
        store.onPruneStage.withLockedValue { hook in
            hook = { at in
                guard at == stage, late.withLockedValue({ $0.isEmpty }) else { return }
                store.append(batches: [EventBatch([EventDraft(topic: "users/1", type: "message", data: .text("late"), source: "test", rule: "r")])]) {
                    result in late.withLockedValue { $0 = (try? result.get())?.first?.map(\.id) ?? [0] }
                }
            }
        }
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 100, maxAge: .seconds(5)), now: clock.now()) == 2)
        #expect(late.withLockedValue { $0 } == [3])
        let one = TopicFilter([try TopicPattern("users/1")])
        #expect(store.topicCount == 1)
        #expect(try await store.events(after: 0, matching: one, limit: 10).map(\.id) == [3], "while it runs")
        try await store.close()
        let reopened = try SQLiteEventStore(path: path, now: clock.now)
        #expect(reopened.topicCount == 1)
        #expect(try await reopened.events(after: 0, matching: one, limit: 10).map(\.id) == [3], "after a reopen")
        try await reopened.close()
    }

    /// Bad input: one topic spelled composed (`café`) by one publisher and decomposed (`cafe` and U+0301, as macOS
    /// spells file names) by another. Swift calls the two strings equal, SQLite's bytes do not: a read by topic
    /// found only one spelling's events. Topics and patterns are taken in their composed form, so both are one
    /// topic everywhere.
    @Test func aTopicSpelledComposedOrDecomposedIsOneTopic() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path)
        _ = try await store.append([draft("other")])
        _ = try await store.append([draft("cafe\u{301}/menu")])
        _ = try await store.append([draft("caf\u{e9}/menu")])
        let composed = TopicFilter([try TopicPattern("caf\u{e9}/menu")])
        let decomposed = TopicFilter([try TopicPattern("cafe\u{301}/*")])
        #expect(store.topicCount == 2)
        #expect(try await store.events(after: 0, matching: composed, limit: 10).map(\.id) == [2, 3])
        try await store.close()
        let reopened = try SQLiteEventStore(path: path)
        #expect(reopened.topicCount == 2)
        let read = try await reopened.events(after: 0, matching: composed, limit: 10)
        #expect(read.map(\.id) == [2, 3], "from SQLite, by topic")
        #expect(read.allSatisfy { Array($0.topic.utf8) == Array("caf\u{e9}/menu".utf8) }, "stored composed")
        #expect(try await reopened.events(after: 0, matching: decomposed, limit: 10).map(\.id) == [2, 3])
        try await reopened.close()
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

    /// `store.retention.max_events` (``expectMaxEventsAcrossTopics(_:topicCount:)``).
    @Test func retentionKeepsAtMostMaxEventsAcrossTopicsOldestFirst() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath())
        try await expectMaxEventsAcrossTopics(store, topicCount: { store.topicCount })
        try await store.close()
    }

    /// A store made before forgotten topics were listed: its rows with no event are listed when it opens, and fold.
    @Test func aStoreFromBeforeTheForgottenListFoldsItsForgottenTopicsToo() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path)
        for topic in ["f1", "f2", "f3", "live"] { _ = try await store.append([draft(topic)]) }
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 100, maxEvents: 1), now: 0) == 3)
        try await store.close()
        try await DatabaseQueue(path: path).write { db in try db.execute(sql: "DROP TABLE forgotten_topics") }
        let reopened = try SQLiteEventStore(path: path)
        var retention = Retention(maxEventsPerTopic: 100, maxEvents: 1)
        retention.forgottenTopicMarks = 1
        #expect(try await reopened.applyRetention(retention, now: 0) == 0)
        #expect(try await reopened.prunedThrough(matching: TopicFilter([try TopicPattern("f1")])) == 2, "f1 and f2 folded")
        #expect(try await reopened.prunedThrough(matching: TopicFilter([try TopicPattern("f3")])) == 3)
        try await reopened.close()
        let rows = try await DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT name FROM topics ORDER BY name") }
        #expect(rows == ["f3", "live"])
    }

    @Test func theStoresBoundCountsWhatTheTopicsBoundsLeft() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath())
        try await expectTheStoresBoundToCountWhatTheTopicsBoundsLeft(store)
        try await store.close()
    }

    /// The marks of forgotten topics past their bound (``expectForgottenMarksToFoldPastTheirBound(_:)``): their rows
    /// go too, so a source whose topics come from its messages no longer leaves a row per topic for good, and the
    /// floor survives a reopen.
    @Test func forgottenMarksPastTheirBoundFoldIntoOne() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path)
        try await expectForgottenMarksToFoldPastTheirBound(store)
        try await store.close()
        let rows = try await DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT name FROM topics ORDER BY name") }
        #expect(rows == ["f10", "f8", "f9", "live"])
        let reopened = try SQLiteEventStore(path: path)
        #expect(try await reopened.prunedThrough(matching: TopicFilter([try TopicPattern("f2")])) == 7, "the floor survives a reopen")
        #expect(try await reopened.prunedThrough(matching: TopicFilter([try TopicPattern("f10")])) == 10)
        try await reopened.close()
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

    @Test func concurrentAppendsAreGroupedIntoFewerTransactionsWithSyncFull() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath(), synchronous: .full)
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

    @Test func appendsGoToTheLogFirstAndReachSQLiteInGroupsBehindIt() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path)
        let all = TopicFilter([try TopicPattern("sparse")])
        var ids: [EventID] = []
        for _ in 0..<5 {
            // Sparse appends, 5 ms apart: each its own write, all within one apply delay (a second).
            try await Task.sleep(for: .milliseconds(5))
            ids += try await store.append([draft("sparse")]).map(\.id)
            // Readable at once, applied or not.
            #expect(try await store.events(after: 0, matching: all, limit: 10).map(\.id) == ids)
        }
        #expect(ids == [1, 2, 3, 4, 5])
        #expect(store.logAppendCount == 5)
        // Applied behind (after applyDelay, a second): fewer transactions than appends, then the log is emptied.
        try await waitFor("the log applied") { store.logBytes == 0 && store.commitCount > 0 }
        #expect(store.commitCount < 5, "\(store.commitCount) transactions for 5 sparse appends")
        #expect(try await store.events(after: 2, matching: all, limit: 10).map(\.id) == [3, 4, 5])
        try await store.close()
        let reopened = try SQLiteEventStore(path: path)
        #expect(try await reopened.events(after: 0, matching: all, limit: 10).map(\.id) == ids)
    }

    @Test func withSyncFullEveryAppendIsATransactionAndThereIsNoLog() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path, synchronous: .full)
        for _ in 0..<3 {
            _ = try await store.append([draft("full")])
        }
        #expect(store.commitCount == 3)
        #expect(store.logAppendCount == 0)
        #expect(!FileManager.default.fileExists(atPath: path + "-appendlog"))
    }

    @Test func aCrashLeavesTheLogAndTheNextOpenAppliesWhatSQLiteLacks() async throws {
        let path = try temporaryPath()
        // Never applied while it runs: SQLite has nothing, the log everything, as after a crash before an apply.
        let store = try SQLiteEventStore(path: path, synchronous: .normal, applyDelay: .seconds(3_600))
        let delivery = DeliveryKey(source: "github", id: "d-1")
        let first = try await store.append([draft("crash/a", "one"), draft("crash/b", "two")])
        let second: [[Event]] = try await withCheckedThrowingContinuation { continuation in
            store.append(batches: [EventBatch([draft("crash/a", "three")], delivery: delivery)]) { continuation.resume(with: $0) }
        }
        let everything = first + second[0]
        let all = TopicFilter([try TopicPattern("crash/*")])
        // Served from memory before any apply: events, and the delivery for redeliveries.
        #expect(try await store.events(after: 0, matching: all, limit: 10) == everything)
        #expect(try await store.events(after: 1, matching: TopicFilter([try TopicPattern("crash/a")]), limit: 10).map(\.id) == [3])
        #expect(try await store.delivery(delivery, since: 0)?.ids == [3])
        #expect(store.commitCount == 0)

        // The crash: the files as they are now, copied elsewhere, plus half an entry that a power loss cut short.
        let crashed = try temporaryPath()
        for suffix in ["", "-wal", "-appendlog"] where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: crashed + suffix)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: crashed + "-appendlog"))
        try log.seekToEnd()
        try log.write(contentsOf: Data([200, 0, 0, 0, 1, 2, 3, 4, 5, 6]))  // a frame of 200 bytes, 2 of them here
        try log.close()

        let captured = CapturedLog()
        let reopened = try SQLiteEventStore(path: crashed, logger: Logger(label: "test") { _ in captured })
        #expect(try await reopened.events(after: 0, matching: all, limit: 10) == everything)
        // Both told: what was taken from the log, and the torn tail that was dropped.
        #expect(captured.all.contains { $0.hasPrefix("notice: The SQLite store took 3 event(s) from its append log") }, "\(captured.all)")
        #expect(captured.all.contains { $0.hasPrefix("warning: The SQLite store's append log ended in an entry cut short or damaged (10 bytes)") }, "\(captured.all)")
        #expect(try await reopened.delivery(delivery, since: 0)?.ids == [3])
        #expect(try await reopened.lastEventID() == 3)
        #expect(reopened.logBytes == 0, "recovered into SQLite, the log emptied (torn tail included)")
        #expect(try await reopened.append([draft("crash/a")]).map(\.id) == [4])
        try await reopened.close()
        // Opened again after a clean close (aLogWhoseEntriesSQLiteHasIsSkippedOnOpen covers a log that still holds
        // applied entries).
        let again = try SQLiteEventStore(path: crashed)
        #expect(try await again.events(after: 0, matching: all, limit: 10).map(\.id) == [1, 2, 3, 4])
        try await again.close()
        try await store.close()
    }

    /// A crash between an apply and the log's truncation leaves entries SQLite already has. Opening the store
    /// skips them: no id twice, no failure to open, and numbering goes on after them.
    @Test func aLogWhoseEntriesSQLiteHasIsSkippedOnOpen() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path, synchronous: .normal, applyDelay: .seconds(3_600))
        _ = try await store.append([draft("twice/a", "one"), draft("twice/b", "two")])
        _ = try await store.append([draft("twice/a", "three")])
        let saved = try temporaryPath() + "-appendlog"
        try FileManager.default.copyItem(atPath: path + "-appendlog", toPath: saved)
        try await store.close()  // applies the log to SQLite and empties it
        #expect(store.commitCount == 1)
        // The crash: the log as it was before the apply, beside a database that has its entries.
        try FileManager.default.removeItem(atPath: path + "-appendlog")
        try FileManager.default.copyItem(atPath: saved, toPath: path + "-appendlog")
        let reopened = try SQLiteEventStore(path: path)
        let all = TopicFilter([try TopicPattern("twice/*")])
        #expect(try await reopened.events(after: 0, matching: all, limit: 10).map(\.id) == [1, 2, 3])
        #expect(try await reopened.lastEventID() == 3)
        #expect(reopened.logBytes == 0)
        #expect(try await reopened.append([draft("twice/a")]).map(\.id) == [4])
        try await reopened.close()
    }

    @Test func aLogLeftByACrashIsAppliedWhenTheStoreOpensWithSyncFull() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path, synchronous: .normal, applyDelay: .seconds(3_600))
        _ = try await store.append([draft("switch")])
        let crashed = try temporaryPath()
        for suffix in ["", "-wal", "-appendlog"] where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: crashed + suffix)
        }
        let full = try SQLiteEventStore(path: crashed, synchronous: .full)
        #expect(try await full.events(after: 0, matching: TopicFilter([try TopicPattern("switch")]), limit: 10).map(\.id) == [1])
        #expect(!FileManager.default.fileExists(atPath: crashed + "-appendlog"))
        try await store.close()
    }

    @Test func closingAppliesTheLogAndRunsNoWriterWorkAfterwards() async throws {
        let path = try temporaryPath()
        // Nothing applied until close(): its one apply of 900 events of 8 KiB takes the WAL past the checkpoint
        // mark, which queues a checkpoint behind the close. It must not run on the closed connections (it did, and
        // crashed in SQLite, in a CI run).
        let store = try SQLiteEventStore(path: path, synchronous: .normal, applyDelay: .seconds(3_600))
        let text = String(repeating: "c", count: 8_192)
        for i in 0..<900 { _ = try await store.append([draft("close/\(i % 3)", text)]) }
        #expect(store.commitCount == 0)
        try await store.close()
        #expect(store.commitCount == 1)
        #expect(store.checkpointCount == 0, "no checkpoint after close")
        await #expect(throws: StoreError.self) { try await store.applyRetention(Retention(maxEventsPerTopic: 1), now: 0) }
        // Bad input: an append after close. It is refused, not left in the log of a closed store.
        await #expect(throws: StoreError.self) { try await store.append([draft("close/0", "late")]) }
        #expect(store.logBytes == 0)
        let reopened = try SQLiteEventStore(path: path)
        #expect(reopened.logBytes == 0)
        #expect(try await reopened.events(after: 895, matching: TopicFilter([try TopicPattern("close/*")]), limit: 10).map(\.id) == [896, 897, 898, 899, 900])
    }

    /// A close with more than 32 MiB not yet applied (a stop has about two seconds) leaves the append log as it is,
    /// says so, and the next open applies it: 40 events of 1 MiB, none lost.
    @Test func aCloseLeavesALargeLogForTheNextOpen() async throws {
        let path = try temporaryPath()
        let limits = SQLiteEventStore.ApplyLimits(batchEvents: 1_000, batchBytes: 1 << 30, maximumEvents: 100_000, maximumBytes: 1 << 30)
        let captured = CapturedLog()
        let store = try SQLiteEventStore(
            path: path, synchronous: .normal, applyDelay: .seconds(3_600), applyLimits: limits, logger: Logger(label: "test") { _ in captured })
        let megabyte = String(repeating: "m", count: 1 << 20)
        for _ in 0..<40 { _ = try await store.append([draft("big/1", megabyte)]) }
        try await store.close()
        #expect(captured.all.contains { $0.hasPrefix("notice: The SQLite store leaves its append log for the next start") }, "\(captured.all)")
        let logSize = try #require(try FileManager.default.attributesOfItem(atPath: path + "-appendlog")[.size] as? Int)
        #expect(logSize > SQLiteEventStore.closingApplyBytes)

        let reopenedLog = CapturedLog()
        let reopened = try SQLiteEventStore(path: path, logger: Logger(label: "test") { _ in reopenedLog })
        #expect(reopenedLog.all.contains { $0.hasPrefix("notice: The SQLite store took 40 event(s) from its append log") }, "\(reopenedLog.all)")
        let read = try await reopened.events(after: 0, matching: TopicFilter([try TopicPattern("big/1")]), limit: 100)
        #expect(read.map(\.id) == Array(1...40))
        #expect(read.allSatisfy { $0.data == .text(megabyte) })
        try await reopened.close()
    }

    @Test func aTornOrCorruptEntryEndsWhatIsReadBack() throws {
        let path = try temporaryPath() + "-appendlog"
        let log = try AppendLog(path: path)
        let entries = (1...3).map { i in
            AppendLogEntry(
                events: [Event(id: EventID(i), topic: "t/\(i)", type: "m", data: i == 2 ? .json("[1]") : .text("é \(i)"), timestamp: 42, source: "s")],
                newTopics: ["t/\(i)"],
                deliveries: [.init(key: DeliveryKey(source: "s", id: "\(i)"), record: DeliveryRecord(ids: [EventID(i)], topics: ["t/\(i)"], time: 42))])
        }
        var sizes: [Int] = []
        for entry in entries {
            try log.append(entry)
            sizes.append(log.size)
        }
        #expect(try log.readEntries().entries == entries)
        // Bad input: one byte of the second entry flipped on disk. Its checksum fails: the first entry is all that counts.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(sizes[0] + 12))
        let byte = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: UInt64(sizes[0] + 12))
        try handle.write(contentsOf: Data([byte ^ 0xFF]))
        try handle.close()
        let read = try log.readEntries()
        #expect(read.entries == [entries[0]])
        #expect(read.bytes == sizes[0])
    }

    /// A retention pass whose task is cancelled (the daemon stops: its bound is under two seconds) ends between two of
    /// its short transactions instead of running to the end; the next pass finishes the work. 25,000 events of one
    /// topic, bounded to 1: five steps of 5,000 rows, the task cancelled as the first begins.
    @Test func aCancelledRetentionPassEndsBetweenTwoStepsAndTheNextFinishes() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath())
        for _ in 0..<25 { _ = try await store.append((0..<1_000).map { _ in draft("many/1") }) }
        let task = NIOLockedValueBox<Task<Int, any Error>?>(nil)
        let steps = NIOLockedValueBox(0)
        store.onPruneStage.withLockedValue { hook in
            hook = { stage in
                guard stage == .started else { return }
                steps.withLockedValue { $0 += 1 }
                task.withLockedValue { $0?.cancel() }
            }
        }
        task.withLockedValue { $0 = Task { try await store.applyRetention(Retention(maxEventsPerTopic: 1), now: 0) } }
        let pass = try #require(task.withLockedValue { $0 })
        await #expect(throws: CancellationError.self) { _ = try await pass.value }
        #expect(steps.withLockedValue { $0 } <= 2, "ended after the step it was cancelled in (or the one before it knew)")
        let one = TopicFilter([try TopicPattern("many/1")])
        let left = try await store.events(after: 0, matching: one, limit: 30_000).count
        #expect(left >= 15_000, "\(left) events left: most of the pass was not run")
        store.onPruneStage.withLockedValue { $0 = nil }
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 1), now: 0) == left - 1)
        #expect(try await store.events(after: 0, matching: one, limit: 10).map(\.id) == [25_000])
        try await store.close()
    }

    /// Bad input: an append log planted as a symbolic link beside the database (to a file it would empty after its
    /// first apply). The store does not open, says why, and the file the link names is left as it was.
    @Test func anAppendLogThatIsASymbolicLinkIsRefused() throws {
        let path = try temporaryPath()
        let victim = path + "-other"
        try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: victim))
        #expect(symlink(victim, path + "-appendlog") == 0)
        do {
            _ = try SQLiteEventStore(path: path)
            Issue.record("the store opened through the link")
        } catch {
            #expect("\(error)".contains("is a symbolic link, and the append log must be a file of its own"), "\(error)")
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me\n")
    }

    @Test func anApplyTakesOneBatchPerTransactionHoweverMuchWaits() async throws {
        // Bad input for the writer: appends far faster than it applies them, in one tight loop (each append is
        // written to the log and answered at once). Every transaction still takes one batch at most, by count and
        // by bytes. (A remainder under one batch waits for the apply delay: 50 ms here.)
        for limits in [SQLiteEventStore.ApplyLimits(batchEvents: 100), SQLiteEventStore.ApplyLimits(batchEvents: 100_000, batchBytes: 64 << 10)] {
            let path = try temporaryPath()
            let store = try SQLiteEventStore(path: path, synchronous: .normal, applyDelay: .milliseconds(50), applyLimits: limits)
            let text = String(repeating: "b", count: 2_048)
            for i in 0..<3_000 {
                store.append(batches: [EventBatch([draft("batch/\(i % 5)", text)])]) { result in
                    if case .failure(let error) = result { Issue.record("append \(i) failed: \(error)") }
                }
            }
            try await waitFor("every event applied") { store.logBytes == 0 }
            // An event takes more than 2 KiB of page bytes: 32 of them pass 64 KiB.
            let perTransaction = min(limits.batchEvents, (limits.batchBytes + 2_047) / 2_048)
            #expect(store.largestCommitEvents <= perTransaction, "\(store.largestCommitEvents) events in one transaction")
            #expect(store.commitCount >= 3_000 / perTransaction)
            try await store.close()
            let reopened = try SQLiteEventStore(path: path)
            #expect(try await reopened.events(after: 2_990, matching: TopicFilter([try TopicPattern("batch/*")]), limit: 100).map(\.id) == Array(2_991...3_000))
            try await reopened.close()
        }
    }

    @Test func checkpointsRunOffTheCommitPathAndKeepTheWALBounded() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path)
        // 6,000 events of 2 KiB: a WAL of more than 12 MiB without checkpoints, and up to 11 MiB with them when an
        // apply took everything that waited in one transaction.
        let text = String(repeating: "w", count: 2_048)
        for i in 0..<6_000 { _ = try await store.append([draft("wal/\(i % 4)", text)]) }
        let deadline = ContinuousClock.now + .seconds(10)
        while store.checkpointCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(store.checkpointCount >= 1)
        let walBytes = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        // One checkpoint's mark (1,000 pages) and one apply's batch (1,000 events): about 6.5 MiB at most.
        #expect(walBytes < 8 * 1024 * 1024, "WAL is \(walBytes) bytes")
        #expect(try await store.events(after: 5_990, matching: TopicFilter([try TopicPattern("wal/*")]), limit: 100).map(\.id) == Array(5_991...6_000))
        try await store.close()
        #expect(try await SQLiteEventStore(path: path).lastEventID() == 6_000)
    }

    @Test(arguments: SQLiteEventStore.Synchronous.allCases)
    func batchesAppendedTogetherShareOneWriteAndKeepTheirOrder(sync: SQLiteEventStore.Synchronous) async throws {
        let store = try SQLiteEventStore(path: try temporaryPath(), synchronous: sync)
        _ = try await store.append([draft("first")])
        let before = (store.commitCount, store.logAppendCount)
        let numbered: [[Event]] = try await withCheckedThrowingContinuation { continuation in
            store.append(batches: [[draft("a"), draft("b")], [], [draft("c")]]) { continuation.resume(with: $0) }
        }
        #expect(numbered.map { $0.map(\.id) } == [[2, 3], [], [4]])
        #expect(numbered.map { $0.map(\.topic) } == [["a", "b"], [], ["c"]])
        switch sync {
        case .full: #expect(store.commitCount == before.0 + 1, "one transaction")
        case .normal: #expect(store.logAppendCount == before.1 + 1, "one entry in the append log")
        }
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

    /// Bad input: store.path naming a folder. SQLite's "unable to open database file" (exit 70, which systemd retries)
    /// became a setup error that says what to give instead.
    @Test func aFolderGivenAsTheStorePathIsAClearError() throws {
        let folder = try TemporaryFolder.make("hookstream-sqlite").path
        #expect {
            try SQLiteEventStore(path: folder)
        } throws: { error in
            (error as? StoreError)?.kind == .unavailable && "\(error)".contains("is a folder: give the database file's path in it")
        }
    }

    @Test func aMissingOrUnwritableFolderIsAClearError() throws {
        #expect {
            try SQLiteEventStore(path: "/nonexistent-\(UUID().uuidString)/events.db")
        } throws: { error in
            (error as? StoreError)?.kind == .unavailable && "\(error)".contains("does not exist")
        }
    }

    /// Bad input: a second open of a store another opener holds (another process, in production). Both would number
    /// ids from their own memory and empty each other's append log; the second is refused until the first closes.
    @Test func aStoreIsOpenedByOneOpenerAtATime() async throws {
        let path = try temporaryPath()
        let first = try SQLiteEventStore(path: path)
        _ = try await first.append([draft("lock")])
        let refusal = #expect(throws: StoreError.self) { try SQLiteEventStore(path: path) }
        #expect(refusal?.kind == .inUse)
        #expect(refusal?.message.contains("in use by another hookstream process") == true, "\(String(describing: refusal))")
        try await first.close()
        let second = try SQLiteEventStore(path: path)
        #expect(try await second.lastEventID() == 1)
        try await second.close()
    }

    /// Bad input: a second store.path that is a symbolic link to a store in use. SQLite follows the link; the lock
    /// and the append log were named after the path as written, so both opened it, numbered the same ids and emptied
    /// each other's log.
    @Test func aLinkToAStoreInUseIsRefusedToo() async throws {
        let path = try temporaryPath()
        let first = try SQLiteEventStore(path: path)
        _ = try await first.append([draft("lock")])
        let link = try TemporaryFolder.make("hookstream-sqlite-link").appendingPathComponent("other.db").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        let refusal = #expect(throws: StoreError.self) { try SQLiteEventStore(path: link) }
        #expect(refusal?.kind == .inUse)
        try await first.close()
        let second = try SQLiteEventStore(path: link)
        #expect(try await second.lastEventID() == 1)
        try await second.close()
    }

    /// Another process holding SQLite's write lock (`BEGIN EXCLUSIVE` in a `sqlite3` shell, a backup) while the store
    /// closes: the close must not wait for it. It waited SQLite's busy timeout (5 s), past the daemon's stop bound,
    /// and swift-service-lifecycle crashed the process. The events stay in the append log for the next open.
    @Test func aCloseDoesNotWaitForAnotherProcesssLock() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path, synchronous: .normal, applyDelay: .seconds(3_600))
        for i in 1...3 { _ = try await store.append([draft("held", "\(i)")]) }
        let side = try Self.holdWriteLock(path)
        let started = ContinuousClock.now
        await #expect(throws: (any Error).self) { try await store.close() }
        #expect(ContinuousClock.now - started < .seconds(2), "the close waited for the lock")
        sqlite3_exec(side, "COMMIT", nil, nil, nil)
        sqlite3_close_v2(side)
        let reopened = try SQLiteEventStore(path: path)
        #expect(try await reopened.events(after: 0, matching: TopicFilter([try TopicPattern("held")]), limit: 10).map(\.data) == [
            .text("1"), .text("2"), .text("3"),
        ])
        try await reopened.close()
    }

    /// The same with `store.sync: full`, where an append waits on the writer for the lock: the close ends that wait
    /// (the append fails, so nothing unstored is acknowledged) instead of queuing behind it.
    @Test func aCloseEndsAnAppendWaitingForAnotherProcesssLock() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path, synchronous: .full)
        _ = try await store.append([draft("held", "stored")])
        let side = try Self.holdWriteLock(path)
        defer { sqlite3_close_v2(side) }
        let waiting = Task { try await store.append([draft("held", "waits")]) }
        let deadline = ContinuousClock.now + .seconds(4)  // within SQLite's five seconds of waiting
        while store.busyAnswersSoFar == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        try #require(store.busyAnswersSoFar > 0, "the append never waited for the lock")
        let started = ContinuousClock.now
        try await store.close()
        #expect(ContinuousClock.now - started < .seconds(2), "the close waited for the lock")
        await #expect(throws: (any Error).self) { try await waiting.value }
    }

    /// Opens `path` on its own connection and takes SQLite's write lock, as another process would.
    private static func holdWriteLock(_ path: String) throws -> OpaquePointer {
        var handle: OpaquePointer?
        #expect(sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK)
        let side = try #require(handle)
        #expect(sqlite3_exec(side, "BEGIN EXCLUSIVE", nil, nil, nil) == SQLITE_OK)
        return side
    }

    /// Bad input: an append after close with `store.sync: full` (a keep-alive connection publishing during a
    /// stop). It is refused; it used to run on finalized statements and crash the process.
    @Test func anAppendAfterCloseIsRefusedWithSyncFull() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath(), synchronous: .full)
        _ = try await store.append([draft("full")])
        try await store.close()
        let refusal = await #expect(throws: StoreError.self) { try await store.append([draft("full", "late")]) }
        #expect(refusal?.kind == .unavailable)
    }

    /// Applies of the append log that fail (here a trigger refuses every insert, as a full disk would) are logged
    /// once, while publishes are still acknowledged from the log, and so is their recovery; nothing is lost.
    @Test func aFailingApplyIsLoggedAndSoIsItsRecovery() async throws {
        let path = try temporaryPath()
        let captured = CapturedLog()
        let store = try SQLiteEventStore(
            path: path, synchronous: .normal, applyDelay: .milliseconds(10), logger: Logger(label: "test") { _ in captured })
        let side = try DatabaseQueue(path: path)
        try await side.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(FAIL, 'refused by the test'); END")
        }
        #expect(store.condition == .healthy)
        for i in 0..<3 { _ = try await store.append([draft("apply/\(i)")]) }
        try await waitFor("the failure logged") { captured.all.contains { $0.contains("cannot apply its append log") } }
        #expect(captured.all.filter { $0.contains("cannot apply its append log") }.count == 1, "once, not at every retry: \(captured.all)")
        #expect(store.condition == .degraded("the event store cannot write its database; accepted events wait in its append log"))
        // Retention passes apply the log too, and fail too; the retries stay one a second (each pass used to add one
        // more retry a second, for as long as SQLite refused).
        for _ in 0..<10 { _ = try await store.applyRetention(Retention(maxEvents: nil), now: WallClock.milliseconds()) }
        let before = store.failedApplyCount
        try await Task.sleep(for: .seconds(3))
        let retries = store.failedApplyCount - before
        #expect((1...5).contains(retries), "\(retries) failed applies in 3 s")
        try await side.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        try await waitFor("the recovery logged", timeout: .seconds(10)) { captured.all.contains { $0.contains("applies its append log again") } }
        #expect(store.condition == .healthy)
        let stored = try await side.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events") }
        #expect(stored == 3)
        try side.close()
        try await store.close()
    }

    /// Bad input: SQLite refuses every insert until the events waiting for it reach the limit. The store is degraded
    /// first; appends past the limit fail, and it is refusing; once SQLite takes writes again it is healthy.
    @Test func aStoreWhoseWaitingEventsReachTheLimitSaysItRefuses() async throws {
        let path = try temporaryPath()
        let limits = SQLiteEventStore.ApplyLimits(batchEvents: 1_000, batchBytes: 1 << 30, maximumEvents: 5, maximumBytes: 1 << 30)
        let store = try SQLiteEventStore(path: path, synchronous: .normal, applyDelay: .milliseconds(10), applyLimits: limits)
        let side = try DatabaseQueue(path: path)
        try await side.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(FAIL, 'refused by the test'); END")
        }
        _ = try await store.append([draft("limit/0")])
        try await waitFor("degraded") { if case .degraded = store.condition { true } else { false } }
        for i in 1..<5 { _ = try await store.append([draft("limit/\(i)")]) }
        await #expect(throws: StoreError.self) { try await store.append([draft("limit/5")]) }
        let condition = store.condition
        guard case .refusing(let reason) = condition else {
            Issue.record("not refusing: \(condition)")
            return
        }
        #expect(reason.contains("publishes are refused") && !reason.contains(path))
        try await side.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        try await waitFor("healthy again", timeout: .seconds(10)) { store.condition == .healthy }
        #expect(try await side.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events") } == 5)
        try side.close()
        try await store.close()
    }

    /// A page and its retention mark are read at one moment: while appends and retention run beside it, no page
    /// holds an event at or below its own mark (read one after the other, a delete between the two reads gave a page
    /// whose events the mark said were gone, and the replay told its client of a gap that was not there).
    @Test func aPageAndItsMarkAreReadAtOneMoment() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath(), synchronous: .normal, applyDelay: .milliseconds(1))
        let filter = TopicFilter([try TopicPattern("moment")])
        let done = NIOLockedValueBox(false)
        let drafts = (0..<5).map { _ in draft("moment") }
        let writing = Task {
            defer { done.withLockedValue { $0 = true } }
            for _ in 0..<300 {
                _ = try await store.append(drafts)
                try await store.applyRetention(Retention(maxEventsPerTopic: 10), now: 0)
            }
        }
        var marked = 0
        while !done.withLockedValue({ $0 }) {
            let page = try await store.page(after: 0, matching: filter, limit: 100, maxBytes: .max)
            #expect(page.events.allSatisfy { $0.id > page.prunedThrough }, "mark \(page.prunedThrough), page \(page.events.map(\.id))")
            if page.prunedThrough > 0 { marked += 1 }
        }
        try await writing.value
        #expect(marked > 0, "retention ran while pages were read")
        try await store.close()
    }

    /// Retention counts only the topics that got events since it last found them within the bound (a count walks up
    /// to `max_events_per_topic` index entries, and a store may hold many quiet topics), every topic on its first
    /// pass and again when the bound is lowered.
    @Test func retentionCountsOnlyTopicsThatGrewAndAllWhenTheBoundIsLowered() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath(), synchronous: .normal, applyDelay: .milliseconds(1))
        for topic in 0..<20 { _ = try await store.append((0..<6).map { _ in draft("quiet/\(topic)") }) }
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 6), now: 0) == 0)
        #expect(store.lastCountedTopics == 20, "the first pass counts every topic")
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 6), now: 0) == 0)
        #expect(store.lastCountedTopics == 0, "nothing grew")
        _ = try await store.append((0..<3).map { _ in draft("quiet/7") })
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 6), now: 0) == 3)
        #expect(store.lastCountedTopics == 1, "only the topic that grew")
        #expect(try await store.events(after: 0, matching: TopicFilter([try TopicPattern("quiet/7")]), limit: 100).count == 6)
        // A reload lowers the bound: every topic is over it, none grew.
        #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 4), now: 0) == 40)
        #expect(store.lastCountedTopics == 20)
        #expect(try await store.events(after: 0, matching: TopicFilter([try TopicPattern("quiet/*")]), limit: 1_000).count == 80)
        try await store.close()
    }

    /// Bad input: with `sync: full` the database refuses an insert. That publish fails, and the store says it refuses
    /// for the lapse, then that it is degraded, until a commit succeeds again.
    @Test func aFailedCommitWithSyncFullMakesTheStoreRefusingUntilOneSucceeds() async throws {
        let path = try temporaryPath()
        let store = try SQLiteEventStore(path: path, synchronous: .full, applyDelay: .milliseconds(100), refusalLapse: .milliseconds(300))
        let side = try DatabaseQueue(path: path)
        _ = try await store.append([draft("full/0")])
        #expect(store.condition == .healthy)
        try await side.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(FAIL, 'refused by the test'); END")
        }
        await #expect(throws: StoreError.self) { try await store.append([draft("full/1")]) }
        #expect(store.condition == .refusing("the event store cannot write; publishes are refused until it can"))
        // No publish comes (a balancer took the daemon out of rotation on the 503): past the lapse it is degraded.
        try await waitFor("degraded after the lapse") { if case .degraded = store.condition { true } else { false } }
        try await side.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        _ = try await store.append([draft("full/2")])
        #expect(store.condition == .healthy)
        try side.close()
        try await store.close()
    }

    /// A read takes its topics first: an event of a topic new to it, published and applied before it reads SQLite,
    /// and a newer one of a topic it knows, must not give a page that holds the newer one and skips the other (the
    /// next page starts after the newer one). The page ends at the last id its topics account for; a replay takes
    /// the rest from live delivery.
    @Test func aPageDoesNotSkipAnEventOfATopicNewToItsRead() async throws {
        let store = try SQLiteEventStore(path: try temporaryPath(), synchronous: .normal, applyDelay: .milliseconds(1))
        _ = try await store.append([draft("x/a"), draft("y")])
        store.onReadTopics.withLockedValue {
            $0 = {
                store.onReadTopics.withLockedValue { $0 = nil }
                let commits = store.commitCount
                store.append([draft("x/b")]) { _ in }
                store.append([draft("x/a")]) { _ in }
                let deadline = ContinuousClock.now + .seconds(10)
                while store.commitCount == commits, ContinuousClock.now < deadline { usleep(1_000) }
            }
        }
        let page = try await store.page(after: 0, matching: TopicFilter([try TopicPattern("x/**")]), limit: 100, maxBytes: .max)
        #expect(page.events.map(\.id) == [1], "ids 3 (x/b) and 4 (x/a) are past what the read's topics account for")
        #expect(try await store.events(after: 1, matching: TopicFilter([try TopicPattern("x/**")]), limit: 100).map(\.id) == [3, 4])
        try await store.close()
    }
}
