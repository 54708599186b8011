import Foundation
import HookstreamCore
@testable import HookstreamPostgres
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import Testing

/// The PostgreSQL store against a real PostgreSQL server (a scratch cluster per test): the store contract the other
/// stores meet, and what sharing one database between instances adds.
@Suite(.serialized, .timeLimit(.minutes(2))) struct PostgresEventStoreTests {
    private func draft(_ topic: String, _ text: String = "x") -> EventDraft {
        EventDraft(topic: topic, type: "message", data: .text(text), source: "test", rule: "r")
    }

    /// Opens a store on `server` and runs it (its pool, writer and listener) for `body`; closes it after.
    private func withStore<T: Sendable>(
        _ server: ScratchPostgres, now: @escaping @Sendable () -> Int64 = WallClock.milliseconds,
        _ body: (PostgresEventStore) async throws -> T
    ) async throws -> T {
        let store = try await PostgresEventStore.open(server.settings, now: now)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            do {
                let result = try await body(store)
                try await store.close()
                group.cancelAll()
                return result
            } catch {
                try? await store.close()
                group.cancelAll()
                throw error
            }
        }
    }

    @Test func eventsRoundTripAndIdsContinueAfterReopeningAndPruning() async throws {
        try await ScratchPostgres.with { server in
            let drafts = [
                EventDraft(topic: "a/b", type: "deploy", data: .json(#"{"ok":true}"#), source: "github", rule: "r1"),
                // PostgreSQL's text cannot hold a NUL; an event's text can (data is stored as bytes).
                EventDraft(topic: "a/c", type: "message", data: .text("line one\nzwei \u{0} drei ✓"), source: "local", rule: "r2"),
            ]
            let stored = try await withStore(server) { (store: PostgresEventStore) async throws -> [Event] in
                let stored = try await store.append(drafts)
                #expect(stored.map(\.id) == [1, 2])
                let read = try await store.events(after: 0, matching: TopicFilter([try TopicPattern("a/*")]), limit: 10)
                #expect(read == stored)
                #expect(read[0].data == .json(#"{"ok":true}"#) && read[1].data == .text("line one\nzwei \u{0} drei ✓"))
                #expect(try await store.append([draft("a/b")]).map(\.id) == [3])
                #expect(try await store.applyRetention(Retention(maxEventsPerTopic: 1, maxEvents: nil), now: 0) == 1)
                return stored
            }
            #expect(stored.count == 2)
            try await withStore(server) { (store: PostgresEventStore) async throws -> Void in
                #expect(try await store.lastEventID() == 3)
                #expect(try await store.append([draft("a/d")]).map(\.id) == [4], "ids go on after a reopen and are never reused")
                #expect(try await store.prunedThrough(matching: TopicFilter([try TopicPattern("a/b")])) == 1)
            }
        }
    }

    @Test func pagesStopAtTheirByteBudgetAndSkipNothing() async throws {
        try await ScratchPostgres.with { server in
            try await withStore(server) { (store: PostgresEventStore) async throws -> Void in
                let appended = try await appendMixedSizes(to: store)
                try await expectPagesOfMixedSizes(store, appended: appended)
            }
        }
    }

    /// Patterns are narrowed by their literal prefix in SQL, then matched: `%` and `_` in a topic are taken as
    /// themselves, and `a/*` does not read `a/b/c`.
    @Test func patternsMatchAsTheyDoElsewhere() async throws {
        try await ScratchPostgres.with { server in
            try await withStore(server) { (store: PostgresEventStore) async throws -> Void in
                for topic in ["a", "a/b", "a/b/c", "ab/c", "a%/x", "a_/x", "b/x", "a.b", "a0"] { _ = try await store.append([draft(topic)]) }
                func topics(_ patterns: String...) async throws -> [String] {
                    try await store.events(after: 0, matching: TopicFilter(patterns.map { try TopicPattern($0) }), limit: 100).map(\.topic)
                }
                #expect(try await topics("a/*") == ["a/b"])
                #expect(try await topics("a/**") == ["a", "a/b", "a/b/c"])
                #expect(try await topics("a%/*") == ["a%/x"])
                #expect(try await topics("a_/*", "b/x") == ["a_/x", "b/x"])
                #expect(try await topics("*/x") == ["a%/x", "a_/x", "b/x"])
                #expect(try await topics("**").count == 9)
                #expect(try await topics("a0", "a/b/*") == ["a/b/c", "a0"], "a0 sorts right after the names under a/")
            }
        }
    }

    @Test func retentionKeepsAtMostMaxEventsAcrossTopicsOldestFirst() async throws {
        try await ScratchPostgres.with { server in
            try await withStore(server) { (store: PostgresEventStore) async throws -> Void in
                try await expectMaxEventsAcrossTopics(store, topicCount: { Int(try await server.psql("SELECT count(DISTINCT topic) FROM hookstream_events"))! })
            }
        }
    }

    @Test func forgottenMarksPastTheirBoundFoldIntoOne() async throws {
        try await ScratchPostgres.with { server in
            try await withStore(server) { store in try await expectForgottenMarksToFoldPastTheirBound(store) }
        }
    }

    @Test func theStoresBoundCountsWhatTheTopicsBoundsLeft() async throws {
        try await ScratchPostgres.with { server in
            try await withStore(server) { store in try await expectTheStoresBoundToCountWhatTheTopicsBoundsLeft(store) }
        }
    }

    @Test func retentionByAgeAndForgetsOldDeliveries() async throws {
        try await ScratchPostgres.with { server in
            let clock = SQLiteEventStoreTests.TestClock()
            try await withStore(server, now: clock.now) { (store: PostgresEventStore) async throws -> Void in
                let key = DeliveryKey(source: "github", id: "d-1")
                let old = try await withCheckedThrowingContinuation { continuation in
                    store.append(batches: [EventBatch([draft("old")], delivery: key)]) { continuation.resume(with: $0.map { $0[0] }) }
                }
                #expect(try await store.delivery(key, since: 0) == DeliveryRecord(ids: old.map(\.id), topics: ["old"], time: clock.now()))
                #expect(try await store.delivery(key, since: clock.now() + 1) == nil, "not one stored before `since`")
                clock.advance(by: 10_000)
                _ = try await store.append([draft("young")])
                var retention = Retention(maxEventsPerTopic: 100, maxAge: .seconds(5))
                retention.deliveryMaxAge = .seconds(5)
                #expect(try await store.applyRetention(retention, now: clock.now()) == 1)
                #expect(try await store.events(after: 0, matching: TopicFilter([try TopicPattern("*")]), limit: 10).map(\.topic) == ["young"])
                #expect(try await store.delivery(key, since: 0) == nil)
                let page = try await store.page(after: 0, matching: TopicFilter([try TopicPattern("old")]), limit: 10, maxBytes: 1 << 20)
                #expect(page.events.isEmpty && page.prunedThrough == 1)
            }
        }
    }

    /// Two instances on one database: ids are handed out in one order across both (concurrent appends from each), and
    /// each hears of the other's events, in id order, through its listener.
    @Test func twoInstancesShareOneLogAndHearEachOther() async throws {
        try await ScratchPostgres.with { server in
            let heard = NIOLockedValueBox<[EventID]>([])
            let store = try await PostgresEventStore.open(server.settings)
            store.follow(from: { heard.withLockedValue { $0.last ?? 0 } }, deliver: { events, _ in heard.withLockedValue { $0 += events.map(\.id) } })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                    let other = try await withStore(server) { other -> [EventID] in
                    try await withThrowingTaskGroup(of: [EventID].self) { appends in
                        appends.addTask { var ids: [EventID] = []; for i in 0..<30 { ids += try await other.append([self.draft("b/\(i)")]).map(\.id) }; return ids }
                        appends.addTask { var ids: [EventID] = []; for i in 0..<30 { ids += try await store.append([self.draft("a/\(i)")]).map(\.id) }; return ids }
                        var all: [EventID] = []
                        for try await ids in appends { all += ids }
                        return all
                    }
                }
                #expect(other.sorted() == Array(1...60), "one sequence across both instances")
                try await waitUntil("the other instance's 30 events are heard") { heard.withLockedValue { $0.count } >= 30 }
                let ids = heard.withLockedValue { $0 }
                #expect(ids == ids.sorted() && Set(ids).count == ids.count, "in id order, once each")
                try await store.close()
                group.cancelAll()
            }
        }
    }

    /// A statement on a connection that has closed fails at once. PostgresNIO's own `query`, written from another
    /// thread once the connection's pipeline is gone, never answers: the listener, stopped while it caught up, waited
    /// on one for ever (a hang seen under load in `twoInstancesShareOneLogAndHearEachOther`).
    @Test func aStatementOnAClosedConnectionFailsAtOnce() async throws {
        try await ScratchPostgres.with { server in
            let logger = Logger(label: "test")
            let connection = try await PostgresConnection.connect(
                configuration: PostgresEventStore.connectionConfiguration(server.settings), id: 9, logger: logger)
            #expect(try await connection.rows("SELECT 1", logger: logger).count == 1)
            try await connection.close()
            await #expect(throws: StoreError.self) { try await connection.rows("SELECT 1", logger: logger) }
            await #expect(throws: StoreError.self) {
                try await connection.transaction(logger: logger) { connection in try await connection.rows("SELECT 1", logger: logger) }
            }
        }
    }

    /// A statement whose task is cancelled (a read past its timeout, a stop) ends at once, by closing its connection,
    /// rather than when the server answers (a server whose host vanished never does).
    @Test func aCancelledStatementEndsAtOnceByClosingItsConnection() async throws {
        try await ScratchPostgres.with { server in
            let logger = Logger(label: "test")
            let connection = try await PostgresConnection.connect(
                configuration: PostgresEventStore.connectionConfiguration(server.settings), id: 9, logger: logger)
            let sleeping = Task { try await connection.rows("SELECT pg_sleep(25)", logger: logger) }
            try await waitUntil("the statement runs") {
                try await server.psql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(25)' AND state = 'active'") == "1"
            }
            let cancelled = ContinuousClock.now
            sleeping.cancel()
            await #expect(throws: (any Error).self) { try await sleeping.value }
            #expect(ContinuousClock.now - cancelled < .seconds(5), "ended at the cancel, not after the server's 25 s")
            // PostgresNIO fails the statement before its channel has closed: the close follows.
            try await connection.closeFuture.get()
        }
    }

    /// Bad input from outside: the server stops answering while its connections stay open (SIGSTOP, as a host that
    /// vanished without a reset). The listener's next read (the sweep's) gets no answer; past its deadline the
    /// connection is closed and the store says it is degraded, where it would have waited on TCP, healthy in name.
    /// Once the server answers again, the listener is back and hands on what was appended meanwhile.
    @Test func aListenerWhoseServerStopsAnsweringSaysSoAndComesBack() async throws {
        try await ScratchPostgres.with { server in
            let heard = NIOLockedValueBox<[EventID]>([])
            let store = try await PostgresEventStore.open(
                server.settings, limits: .init(sweep: .milliseconds(200), catchUpDeadline: .milliseconds(500)))
            store.follow(from: { heard.withLockedValue { $0.last ?? 0 } }, deliver: { events, _ in heard.withLockedValue { $0 += events.map(\.id) } })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                try await withStore(server) { other in
                    _ = try await other.append([self.draft("a")])
                    try await waitUntil("the listener hears the other instance") { heard.withLockedValue { $0 } == [1] }
                    try await waitUntil("healthy") { store.condition == .healthy }

                    try await server.signalAll(SIGSTOP)
                    do {
                        try await waitUntil("the store says its listener is not connected") {
                            if case .degraded = store.condition { return true }
                            return false
                        }
                    } catch {
                        try? await server.signalAll(SIGCONT)
                        throw error
                    }
                    try await server.signalAll(SIGCONT)
                    _ = try await other.append([self.draft("b")])
                    try await waitUntil("the listener is back and hands on what came meanwhile") { heard.withLockedValue { $0 } == [1, 2] }
                    try await waitUntil("healthy again") { store.condition == .healthy }
                }
                try await store.close()
                group.cancelAll()
            }
        }
    }

    /// A page's rows end in the database at its byte budget (a page of large events used to read 2,000 of them at
    /// once): counted over the rows the topic's prefix range reads, which a pattern may refuse. Large events the
    /// pattern refuses, between small ones it takes, cut each chunk early; the read goes on after them and finds every
    /// small one.
    @Test func aPageEndsAtItsByteBudgetInTheDatabaseAndSkipsNothing() async throws {
        try await ScratchPostgres.with { server in
            try await withStore(server) { store in
                let large = String(repeating: "L", count: 100_000)
                for i in 0..<6 {
                    _ = try await store.append([self.draft("x/big/a", large), self.draft("x/\(i)/b", "small \(i)")])
                }
                let small = TopicFilter([try TopicPattern("x/*/b")])
                let page = try await store.events(after: 0, matching: small, limit: 100, maxBytes: 50_000)
                #expect(page.map(\.data.text) == (0..<6).map { "small \($0)" })
                let big = try await store.events(after: 0, matching: TopicFilter([try TopicPattern("x/big/a")]), limit: 100, maxBytes: 150_000)
                #expect(big.map(\.id) == [1, 3], "the budget reached at the second large event")
            }
            // What the database sends for one chunk: the first large event, whose data reaches the 50 KB, and no more.
            let logger = Logger(label: "test")
            let connection = try await PostgresConnection.connect(
                configuration: PostgresEventStore.connectionConfiguration(server.settings), id: 9, logger: logger)
            let chunk = try await PostgresEventStore.readChunk(
                connection, after: 0, where: .init(TopicFilter([try TopicPattern("x/*/b")])), rows: 2_000, bytes: 50_000, logger: logger)
            #expect(chunk.events.map(\.id) == [1] && chunk.cutByBytes)
            let whole = try await PostgresEventStore.readChunk(
                connection, after: 0, where: .init(TopicFilter([try TopicPattern("x/*/b")])), rows: 2_000, bytes: 10_000_000, logger: logger)
            #expect(whole.events.count == 12 && !whole.cutByBytes, "under its bound, a chunk ends at the last event")
            try await connection.close()
        }
    }

    /// Two instances that take the same webhook delivery in the same instant each find no record of it before they
    /// append: the append itself, behind the lock that orders appends, finds the other's and stores nothing of it (its
    /// result is empty, and the publisher answers with the other's ids). Other batches of the same commit are stored,
    /// and the ids stay dense. Past its window, a delivery is stored again.
    @Test func aDeliveryAnotherInstanceStoredFirstIsNotStoredTwice() async throws {
        try await ScratchPostgres.with { server in
            func append(_ store: PostgresEventStore, _ batches: [EventBatch]) async throws -> [[EventID]] {
                try await withCheckedThrowingContinuation { continuation in
                    store.append(batches: batches) { continuation.resume(with: $0.map { $0.map { $0.map(\.id) } }) }
                }
            }
            let first = DeliveryKey(source: "github", id: "d-1")
            let second = DeliveryKey(source: "github", id: "d-2")
            try await withStore(server) { a in
                try await withStore(server) { b in
                    #expect(try await append(a, [EventBatch([self.draft("t/a")], delivery: first, since: 0)]) == [[1]])
                    let mixed = try await append(b, [
                        EventBatch([self.draft("t/plain")]),
                        EventBatch([self.draft("t/b"), self.draft("t/b")], delivery: first, since: 0),
                        EventBatch([self.draft("t/c")], delivery: second, since: 0),
                    ])
                    #expect(mixed == [[2], [], [3]], "the redelivery's two drafts are not stored, and take no id")
                    #expect(try await b.lastEventID() == 3)
                    #expect(try await b.events(after: 0, matching: TopicFilter([try TopicPattern("t/**")]), limit: 10).map(\.topic) == ["t/a", "t/plain", "t/c"])
                    #expect(try await b.delivery(first, since: 0)?.ids == [1], "the first instance's record stands")
                    #expect(try await b.delivery(second, since: 0)?.ids == [3])
                    // A window that opened after the record: a new delivery under an old id, stored.
                    #expect(try await append(b, [EventBatch([self.draft("t/d")], delivery: first, since: .max)]) == [[4]])
                    #expect(try await a.delivery(first, since: 0)?.ids == [4])
                }
            }
        }
    }

    /// A catch-up whose pages end at their bytes (here after each event) still hands on every event, once, in order.
    @Test func aCatchUpInPagesCutByBytesHandsOnEveryEvent() async throws {
        try await ScratchPostgres.with { server in
            let heard = NIOLockedValueBox<[EventID]>([])
            let store = try await PostgresEventStore.open(server.settings, limits: .init(pageBytes: 1))
            store.follow(from: { heard.withLockedValue { $0.last ?? 0 } }, deliver: { events, _ in heard.withLockedValue { $0 += events.map(\.id) } })
            try await withStore(server) { other in
                _ = try await other.append((0..<12).map { self.draft("t/\($0)", String(repeating: "d", count: $0 * 100)) })
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                try await waitUntil("all twelve are heard") { heard.withLockedValue { $0.count } >= 12 }
                #expect(heard.withLockedValue { $0 } == Array(1...12))
                try await store.close()
                group.cancelAll()
            }
        }
    }

    /// Brokers over two instances: every sink sees every event of both, in strictly increasing ids with none missing.
    @Test func brokersOverSharedStoresReleaseEveryEventInOrder() async throws {
        try await ScratchPostgres.with { server in
            let first = try await PostgresEventStore.open(server.settings)
            let second = try await PostgresEventStore.open(server.settings)
            let brokers = [try await Broker(store: first, encode: { ByteBuffer(string: "\($0.id)") }), try await Broker(store: second, encode: { ByteBuffer(string: "\($0.id)") })]
            let sinks = [RecordingSink(), RecordingSink()]
            for (broker, sink) in zip(brokers, sinks) { broker.addSink(sink) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.run() }
                group.addTask { try await second.run() }
                try await withThrowingTaskGroup(of: Void.self) { publishers in
                    for (index, broker) in brokers.enumerated() {
                        publishers.addTask { for i in 0..<40 { _ = try await broker.publish([self.draft("t/\(index)/\(i)")]) } }
                    }
                    try await publishers.waitForAll()
                }
                for sink in sinks {
                    try await waitUntil("all 80 events are released") { sink.ids.count >= 80 }
                    #expect(sink.ids == Array(1...80))
                    #expect(sink.gaps.isEmpty, "nothing was pruned: no event is missed")
                }
                try await first.close()
                try await second.close()
                group.cancelAll()
            }
        }
    }

    /// An instance that did not hear the others while retention pruned what they appended: its broker hands on what is
    /// left, in order, and tells its sinks (the stream hubs, which end their streams so that each resumes by
    /// `Last-Event-ID` and gets a `hookstream.reset` where its topics lost events) after which id events were missed.
    @Test func eventsPrunedBeforeAnInstanceReadThemAreToldAsMissed() async throws {
        try await ScratchPostgres.with { server in
            let late = try await PostgresEventStore.open(server.settings)
            let broker = try await Broker(store: late, encode: { ByteBuffer(string: "\($0.id)") })
            let sink = RecordingSink()
            broker.addSink(sink)
            // The other instance appends 20 while this one's listener is not running, and prunes all but 5.
            try await withStore(server) { other in
                for i in 0..<20 { _ = try await other.append([self.draft("t", "\(i)")]) }
                #expect(try await other.applyRetention(Retention(maxEventsPerTopic: 5, maxEvents: nil), now: 0) == 15)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await late.run() }
                try await waitUntil("what is left is released") { sink.ids.count >= 5 }
                #expect(sink.ids == Array(16...20))
                #expect(sink.gaps == [0] && sink.gapEnds == [15], "told once, before event 16, that the events 1...15 were missed")
                // And on: the next event follows with no further gap.
                _ = try await broker.publish([draft("t")])
                try await waitUntil("the next is released") { sink.ids.count >= 6 }
                #expect(sink.ids.last == 21 && sink.gaps == [0])
                try await late.close()
                group.cancelAll()
            }
        }
    }

    /// Bad input from outside: the database stops under a running store. An append fails at once (no wait for a
    /// connection), readiness refuses for the lapse and is degraded after it, and the store takes events again, with
    /// the ids going on, once the server is back.
    @Test func aDatabaseThatGoesAwayIsRefusedThenDegradedThenBack() async throws {
        try await ScratchPostgres.with { server in
            let store = try await PostgresEventStore.open(server.settings, refusalLapse: .milliseconds(300))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                #expect(try await store.append([draft("a")]).map(\.id) == [1])
                #expect(store.condition == .healthy)
                try await server.stop()
                let started = ContinuousClock.now
                await #expect(throws: StoreError.self) { try await store.append([self.draft("a")]) }
                #expect(ContinuousClock.now - started < .seconds(5), "failed at once, not after a wait for the pool")
                #expect(store.condition == .refusing("the event store cannot be written"))
                try await waitUntil("degraded after the lapse") {
                    if case .degraded = store.condition { return true }
                    return false
                }
                try await server.start()
                #expect(try await store.append([draft("a")]).map(\.id) == [2], "the failed append took no id")
                #expect(store.condition == .healthy)
                try await store.close()
                group.cancelAll()
            }
        }
    }

    /// Bad input for the store: its server stops answering while it commits (SIGSTOP). The commit's deadline closes
    /// the connection, and the append fails as `unconfirmed`, not as "not stored": the query had reached the server,
    /// which runs and commits it once it goes on. Senders were told to retry, and published such an event twice.
    @Test func aCommitCutOffWithoutAnAnswerIsUnconfirmedAndMayHaveBeenStored() async throws {
        try await ScratchPostgres.with { server in
            let store = try await PostgresEventStore.open(server.settings, limits: .init(commitDeadline: .seconds(2)))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                #expect(try await store.append([draft("a")]).map(\.id) == [1])
                try await server.signalAll(SIGSTOP)
                let failure: StoreError?
                do {
                    _ = try await store.append([draft("b", "sent before the server stopped answering")])
                    failure = nil
                } catch {
                    failure = error as? StoreError
                }
                try await server.signalAll(SIGCONT)
                #expect(failure?.kind == .unconfirmed, "\(String(describing: failure))")
                #expect(failure?.message.contains("it may have been stored") == true, "\(String(describing: failure))")
                try await waitUntil("the server commits what it had been sent") {
                    try await store.events(after: 1, matching: TopicFilter([try TopicPattern("b")]), limit: 10).count == 1
                }
                try await store.close()
                group.cancelAll()
            }
        }
    }

    /// A store whose logger is at `trace` (`serve --log-level trace`) hands PostgresNIO no more than `debug`: the
    /// driver logs its login at `trace`, SCRAM's nonce, salt and proof among it, enough to guess a password offline.
    @Test func theDriverLogsNothingAtTraceWhateverTheStoresLevel() async throws {
        let captured = CapturedLog()
        var logger = Logger(label: "test") { _ in captured }
        logger.logLevel = .trace
        try await ScratchPostgres.with { server in
            let store = try await PostgresEventStore.open(server.settings, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                #expect(try await store.append([draft("a/b")]).map(\.id) == [1])
                #expect(try await store.events(after: 0, matching: TopicFilter([try TopicPattern("a/b")]), limit: 10).count == 1)
                try await store.close()
                group.cancelAll()
            }
        }
        let traced = captured.all.filter { $0.hasPrefix("trace:") }.count
        #expect(traced == 0, "lines at trace")
        #expect(PostgresEventStore.driverLogger(logger).logLevel == .debug)
        var quiet = logger
        quiet.logLevel = .warning
        #expect(PostgresEventStore.driverLogger(quiet).logLevel == .warning, "a less verbose level is kept")
    }

    /// Bad input: a server that is not there, and a password that must not be printed. The error says where it tried.
    @Test func anUnreachableServerIsAClearErrorWithoutThePassword() async throws {
        var settings = PostgresStore()
        settings.host = try TemporaryFolder.make("nopg").path
        settings.user = "hookstream"
        settings.password = "s3cret-pass"
        do {
            _ = try await PostgresEventStore.open(settings)
            Issue.record("opened a store with no server")
        } catch {
            #expect(error.kind == .openFailed)
            #expect(error.message.contains("postgresql://hookstream@[\(settings.host)]:5432/hookstream"), "\(error.message)")
            #expect(!error.message.contains("s3cret"))
        }
        // Over TCP, to a port where nothing listens: the refusal in words, not NIO's nested error for each address.
        settings.host = "127.0.0.1"
        settings.port = 1
        do {
            _ = try await PostgresEventStore.open(settings)
            Issue.record("opened a store with no server")
        } catch {
            #expect(error.message.contains("cannot connect: Connection refused (is the server running"), "\(error.message)")
            #expect(!error.message.contains("SingleConnectionFailure") && !error.message.contains("s3cret"), "\(error.message)")
        }
    }

    private func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting until \(what)")
    }
}

/// A sink that records the ids it is given.
private final class RecordingSink: EventSink {
    private let recorded = NIOLockedValueBox<[EventID]>([])
    private let missed = NIOLockedValueBox<[EventID]>([])
    private let missedThrough = NIOLockedValueBox<[EventID]>([])
    /// The last id of each miss.
    var gapEnds: [EventID] { missedThrough.withLockedValue { $0 } }
    var ids: [EventID] { recorded.withLockedValue { $0 } }
    /// The ids after which the broker said events were missed.
    var gaps: [EventID] { missed.withLockedValue { $0 } }
    func enqueue(_ events: [EncodedEvent]) { recorded.withLockedValue { $0 += events.map(\.id) } }
    func eventsMissed(after id: EventID, through last: EventID) {
        missed.withLockedValue { $0.append(id) }
        missedThrough.withLockedValue { $0.append(last) }
    }
}
