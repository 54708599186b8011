import AsyncHTTPClient
import NIOHTTP1
import Foundation
import Testing

/// A subscriber that stops reading is cut once its queue is full; a fast one meanwhile gets everything.
@Suite(.timeLimit(.minutes(3))) struct SlowSubscriberTests {
    let client = HTTPClient.shared

    /// Webhooks to `big` (up to 256 KiB) publish their body to `big/all`, which token `tok` may read.
    static func config(streams: String) -> String {
        """
        streams: \(streams)
        server: { limits: { body_bytes: 256KiB } }
        auth:
          tokens: [{ name: t, secret: { value: tok }, subscribe: ["big/**"] }]
        sources: { big: {} }
        rules:
          - name: big
            source: big
            publish: { topic: "big/all", data: "{{ body }}" }
        """
    }

    /// A client that asks for a replay of all of `big/**` and reads nothing, once the replay is stuck: the kernel
    /// holds bytes the client does not take, so the daemon's end of the connection has a send queue (ss's second
    /// column, with one state asked for).
    static func startReplayThatIsNotRead(_ daemon: Daemon) async throws -> ChildProcess {
        let slow = try ChildProcess(
            TestEnvironment.python,
            [TestEnvironment.client("slow_client.py"), "127.0.0.1", "\(daemon.port)", "/events?topic=big/**&lastEventId=0", "tok"])
        do {
            try await waitUntil("the replay to begin") { slow.stdout.contains("connected") }
            try await waitUntil("the replay to back up") {
                let sockets = try await ChildProcess.run("/usr/bin/env", ["ss", "-tnH", "state", "established", "( sport = :\(daemon.port) )"])
                return sockets.stdout.split(separator: "\n").contains { line in
                    let columns = line.split(separator: " ", omittingEmptySubsequences: true)
                    return columns.count > 1 && (Int(columns[1]) ?? 0) > 0
                }
            }
            return slow
        } catch {
            slow.killAll()
            throw error
        }
    }

    /// Bad input: a client that asks for a replay of 12 MiB of history (3,000 events: more than one replay page, so
    /// the replay waits for the first page's writes), then reads nothing, while the daemon stops. Its stream is told
    /// to come back and closed within a second though it never takes that; the daemon exits 0 within 2 s. (The
    /// replay used to wait for its writes for good, and the stop ended in service-lifecycle's fatal error.)
    @Test func aReplayThatIsNotReadDoesNotHoldUpAStop() async throws {
        let daemon = try await Daemon.start(config: SlowSubscriberTests.config(streams: "{ queue: 10000 }"))
        let history = try await ChildProcess.run(
            "/usr/bin/env", ["python3", TestEnvironment.client("pipeline_client.py"), "\(daemon.port)", "big", "3000", "4096"])
        #expect(history.status == 0, "\(history.stderr)")
        let slow = try await SlowSubscriberTests.startReplayThatIsNotRead(daemon)
        defer { slow.killAll() }
        let (status, duration) = try await daemon.stop()
        #expect(status == 0, "\(daemon.log.suffix(2000))")
        #expect(duration < .seconds(2), "the stop took \(duration)")
    }

    /// A daemon on `config` whose store holds 200 events of 512 KiB (100 MiB) on `big/all`, restarted on that store.
    private static func daemonWithLargeHistory(config: String) async throws -> Daemon {
        let first = try await Daemon.start(config: config)
        let history = try await ChildProcess.run(
            "/usr/bin/env", ["python3", TestEnvironment.client("pipeline_client.py"), "\(first.port)", "big", "200", "\(512 * 1024)", "--slow"],
            timeout: .seconds(110))
        #expect(history.status == 0, "\(history.stderr)")
        #expect(try await first.stop().status == 0)
        return try await Daemon.start(config: config, directory: first.directory)
    }

    /// A field of `/proc/PID/status` of the daemon, in bytes (`VmRSS`, `VmHWM`).
    private static func memory(of daemon: Daemon, _ field: String) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(daemon.child.pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix(field + ":") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])) * 1024
    }

    /// The ids a reader of the whole 100 MiB history gets by resuming from 0 (curl, writing what it reads to a file),
    /// once it has all 200.
    private static func readWholeHistory(_ daemon: Daemon, timeout: Duration) async throws -> [Int] {
        let output = daemon.directory.appendingPathComponent("reader.sse").path
        let reader = try ChildProcess(
            "/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "120", "-o", output, "-H", "Authorization: Bearer tok", "\(daemon.baseURL)/events?topic=big/**&lastEventId=0"])
        defer { reader.killAll() }
        func readIDs() -> [Int] {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return text.matches(of: /data:[^\n]*\nid: (\d+)\n/).map { Int($0.1)! }
        }
        // The file's size first (a scan of up to 100 MiB every 10 ms would compete with what it measures).
        let historyBytes = 200 * 512 * 1024
        try await waitUntil(timeout: timeout, "the reader to get all 200 events") {
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            return size >= historyBytes && readIDs().count >= 200
        }
        return readIDs()
    }

    /// A resuming client whose history is large events costs the daemon a few MiB, not its history: the replay
    /// reads pages of about 2 MiB (the store stops at the event that reaches it) and waits for each to be written.
    /// 200 events of 512 KiB (100 MiB) are stored, the daemon restarted on the same store, and a client asks for all
    /// of them and reads nothing, while a second client reads them all. The daemon's peak resident memory grows by less than 48 MiB
    /// (18–21 MiB measured; with pages of 2,000 events, as before, 303 MiB), and the reader gets every event, in order.
    @Test func aReplayOfLargeEventsHoldsAFewPagesNotTheHistory() async throws {
        let config = SlowSubscriberTests.config(streams: "{ queue: 10000 }").replacingOccurrences(of: "256KiB", with: "1MiB")
        let daemon = try await SlowSubscriberTests.daemonWithLargeHistory(config: config)
        let before = try SlowSubscriberTests.memory(of: daemon, "VmRSS")
        let slow = try await SlowSubscriberTests.startReplayThatIsNotRead(daemon)
        defer { slow.killAll() }
        // A reader meanwhile: the whole history, in order.
        #expect(try await SlowSubscriberTests.readWholeHistory(daemon, timeout: .seconds(60)) == Array(1...200))
        let growth = try SlowSubscriberTests.memory(of: daemon, "VmHWM") - before
        #expect(growth < 48 << 20, "peak RSS grew by \(growth >> 20) MiB for two replays of a 100 MiB history")
        #expect(try await daemon.stop().status == 0)
    }

    /// Bad input: twelve clients that resume from the start of a 100 MiB history (200 events of 512 KiB) and read
    /// nothing, as one token could open. Together they hold at most `server.limits.replay_bytes` (6 MiB here) of
    /// pages, not two pages each: the daemon's peak resident memory grows by less than 40 MiB (27–32 MiB measured,
    /// 73 MiB without the budget). Those past the budget wait; a reader that comes after them gets every event, in order,
    /// once the stuck ones are cut for taking nothing for a heartbeat period (1 s here).
    @Test func replaysThatAreNotReadHoldTheReplayBudgetNotTwoPagesEach() async throws {
        let config = SlowSubscriberTests.config(streams: "{ queue: 10000, heartbeat: 1s }")
            .replacingOccurrences(of: "{ body_bytes: 256KiB }", with: "{ body_bytes: 1MiB, replay_bytes: 6MiB }")
        let daemon = try await SlowSubscriberTests.daemonWithLargeHistory(config: config)
        let before = try SlowSubscriberTests.memory(of: daemon, "VmRSS")
        var stuck: [ChildProcess] = []
        defer { for client in stuck { client.killAll() } }
        for _ in 0..<12 {
            stuck.append(try ChildProcess(
                TestEnvironment.python,
                [TestEnvironment.client("slow_client.py"), "127.0.0.1", "\(daemon.port)", "/events?topic=big/**&lastEventId=0", "tok"]))
        }
        try await waitUntil("the stuck replays to connect") { stuck.allSatisfy { $0.stdout.contains("connected") } }
        try await waitUntil("a replay to wait for the budget") { daemon.log.contains("Replay waiting: the pages of other replays fill server.limits.replay_bytes") }
        #expect(try await SlowSubscriberTests.readWholeHistory(daemon, timeout: .seconds(90)) == Array(1...200))
        let growth = try SlowSubscriberTests.memory(of: daemon, "VmHWM") - before
        print("peak RSS growth with 12 stuck replays and a reader: \(growth >> 20) MiB")
        #expect(growth < 40 << 20, "peak RSS grew by \(growth >> 20) MiB for 13 replays of a 100 MiB history")
        #expect(daemon.log.contains("Replay stopped: its client took nothing for a heartbeat period"))
        #expect(try await daemon.stop().status == 0)
    }

    @Test func aSubscriberThatReadsNothingIsCutWhileAFastOneGetsEverything() async throws {
        try await withDaemon(config: SlowSubscriberTests.config(streams: "{ queue: 16 }")) { daemon in
            let slow = try ChildProcess(
                TestEnvironment.python, [TestEnvironment.client("slow_client.py"), "127.0.0.1", "\(daemon.port)", "/events?topic=big/**", "tok"])
            try await waitUntil("the slow client to be subscribed") { slow.stdout.contains("connected") }
            // The fast subscriber is curl, writing what it reads straight to a file.
            let fastOutput = daemon.directory.appendingPathComponent("fast.sse").path
            let fast = try ChildProcess(
                "/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "120", "-o", fastOutput, "-H", "Authorization: Bearer tok", "\(daemon.baseURL)/events?topic=big/**"])
            try await waitUntil("curl to be subscribed") { (try? String(contentsOfFile: fastOutput, encoding: .utf8))?.contains("stream open") == true }
            let total = 300

            // 300 events of 64 KiB: about 19 MiB, far more than the kernel buffers a non-reader can absorb.
            let padding = String(repeating: "x", count: 64 * 1024)
            for i in 1...total {
                _ = try await client.postWebhook(daemon, source: "big", json: #"{"n":\#(i),"pad":"\#(padding)"}"#)
            }
            func fastIDs() -> [Int] {
                let text = (try? String(contentsOfFile: fastOutput, encoding: .utf8)) ?? ""
                return text.matches(of: /data:[^\n]*\nid: (\d+)\n/).map { Int($0.1)! }
            }
            try await waitUntil(timeout: .seconds(60), "curl to receive all \(total) events") { fastIDs().count >= total }
            #expect(fastIDs() == Array(1...total))
            #expect(fast.isRunning, "the fast subscriber was not cut")
            fast.signal(SIGTERM)

            try await waitUntil(timeout: .seconds(30), "the server to cut the slow subscriber") { daemon.log.contains("Subscriber cut") }
            slow.writeLine("drain")
            #expect(try await slow.waitForExit() == 0)
            let result = try JSONSerialization.jsonObject(with: Data(slow.stdoutLines.last!.utf8)) as! [String: Any]
            let ids = result["ids"] as! [Int]
            #expect(result["eof"] as? Bool == true, "the server closed the slow subscriber's connection")
            #expect(ids.count < total, "the slow subscriber was cut before the end")
            #expect(ids == Array(ids.indices.map { $0 + 1 }), "what it did get is a gap-free prefix, so Last-Event-ID resumes it")

            // It resumes from where it was cut and gets the rest.
            let resumed = try await SSEStream.open(
                "\(daemon.baseURL)/events?topic=big/**", headers: [("Authorization", "Bearer tok"), ("Last-Event-ID", "\(ids.last ?? 0)")])
            let rest = try await resumed.collect { $0.last?.id == "\(total)" }
            #expect(rest.map { Int($0.id!)! } == Array(((ids.last ?? 0) + 1)...total))
        }
    }

    /// A subscriber that pauses, then reads slowly, makes the daemon's writes back up in NIO behind the socket, with
    /// heartbeats every 10 ms landing in between: every frame must still arrive whole, in order, with heartbeats only
    /// between frames, and frames flow again once the backlog has drained. (`StreamSubscriberTests` does the same
    /// with one subscriber over a socket whose buffers are tiny.)
    @Test func aSubscriberThatPausesGetsEveryFrameWholeWithHeartbeatsOnlyBetweenThem() async throws {
        try await withDaemon(config: SlowSubscriberTests.config(streams: "{ heartbeat: 10ms }")) { daemon in
            let reader = try ChildProcess(
                TestEnvironment.python, [TestEnvironment.client("pausing_client.py"), "127.0.0.1", "\(daemon.port)", "/events?topic=big/**", "tok"])
            try await waitUntil("the pausing client to be subscribed") { reader.stdout.contains("connected") }
            let padding = 16 * 1024
            func publish(_ numbers: ClosedRange<Int>) async throws {
                let pad = String(repeating: "y", count: padding)
                for n in numbers { _ = try await client.postWebhook(daemon, source: "big", json: #"{"n":\#(n),"pad":"\#(pad)"}"#) }
            }
            /// Report `number` of the pausing client: exactly events `ids`, each with its own body, whole; no
            /// malformed line, only the stream's own comments, the connection still open.
            func expectReport(_ number: Int, ids expected: ClosedRange<Int>) async throws {
                try await waitUntil(timeout: .seconds(60), "report \(number) from the pausing client") { reader.stdoutLines.count > number }
                let object = try JSONSerialization.jsonObject(with: Data(reader.stdoutLines[number].utf8)) as! [String: Any]
                var ids: [Int] = []
                for event in object["events"] as! [[Any]] {
                    let id = event[0] as! Int
                    let body = try JSONSerialization.jsonObject(with: Data((event[1] as! String).utf8)) as! [String: Any]
                    #expect(body["n"] as? Int == id, "event \(id) carries its own body")
                    #expect((body["pad"] as? String)?.count == padding, "event \(id) arrived whole")
                    ids.append(id)
                }
                let malformed = object["malformed"] as! [String]
                #expect(ids == Array(expected))
                #expect(malformed.isEmpty, "malformed lines: \(malformed.prefix(3))")
                #expect(object["eof"] as? Bool == false)
                #expect(Set(object["comments"] as! [String]).isSubset(of: [": hookstream stream open", ": heartbeat"]))
            }

            // 30 events of 16 KiB while the client reads nothing: far more than its kernel buffers hold, so the
            // server's writes go partial and then queue in NIO, with heartbeats falling due all along.
            try await publish(1...30)
            // 30 more while it reads slowly: the socket keeps getting a little room while NIO still holds bytes,
            // which is when a frame sent directly would overtake them.
            reader.writeLine("slowread 60")
            try await publish(31...60)
            try await expectReport(1, ids: 1...60)

            // Reading again: the backlog is gone, and new frames (sent directly again) follow without a gap.
            reader.writeLine("read 70")
            try await publish(61...70)
            try await expectReport(2, ids: 61...70)
            #expect(!daemon.log.contains("Subscriber cut"))
            reader.signal(SIGTERM)
        }
    }

    /// Bad input: a live subscriber that stops reading while 360 events of 16 KiB (5.6 MiB, fewer events than its queue
    /// of 1,024; the kernel's buffers take some 2.8 MB of it here) go to it, then the topic goes quiet. No further
    /// event counts against its queue, and what NIO holds for it past the kernel's buffers stayed for as long as it
    /// kept the connection. NIO holds as many bytes at each heartbeat: once that has lasted 5 s, it is cut. When it
    /// reads again it gets what reached its socket, whole and in order, then the end of the stream (it would resume
    /// by `Last-Event-ID`).
    @Test func aLiveSubscriberThatTakesNothingOnAQuietTopicIsCut() async throws {
        try await withDaemon(config: SlowSubscriberTests.config(streams: "{ heartbeat: 500ms }")) { daemon in
            let reader = try ChildProcess(
                TestEnvironment.python, [TestEnvironment.client("pausing_client.py"), "127.0.0.1", "\(daemon.port)", "/events?topic=big/**", "tok"])
            try await waitUntil("the pausing client to be subscribed") { reader.stdout.contains("connected") }
            let pad = String(repeating: "y", count: 16 * 1024)
            for n in 1...360 { _ = try await client.postWebhook(daemon, source: "big", json: #"{"n":\#(n),"pad":"\#(pad)"}"#) }
            try await waitUntil(timeout: .seconds(30), "the stalled live subscriber cut") {
                daemon.log.contains("Live stream stopped: its client took nothing of what was written to it")
            }
            #expect(daemon.log.contains("Subscriber cut: it stopped reading and took nothing for"))
            reader.writeLine("read 360")
            try await waitUntil(timeout: .seconds(30), "the client's report") { reader.stdoutLines.count > 1 }
            let report = try JSONSerialization.jsonObject(with: Data(reader.stdoutLines[1].utf8)) as! [String: Any]
            let ids = (report["events"] as! [[Any]]).map { $0[0] as! Int }
            #expect(report["eof"] as? Bool == true, "the stream ended: \(ids)")
            #expect(!ids.isEmpty && ids == Array(1...ids.count), "what reached its socket, in order: \(ids)")
            #expect(ids.count < 360, "NIO held the rest when it was cut")
            #expect((report["malformed"] as! [String]).isEmpty)
        }
    }

    /// A client that reads, with a tiny receive buffer, and a queue of 16: each webhook publishes 48 events of 128 KiB
    /// (one rule, a list of 48), so one drain hands it three times its queue at once in 6 MiB, more than the kernel's
    /// send buffer takes (4 MiB at most here) and far over the daemon's 64 KiB high-water mark; the second comes
    /// while NIO may still hold the first. It takes them a moment later: it is not cut, and gets all 96, whole and in
    /// order. (It was cut at the first: every event written while the channel was over its mark counted against the
    /// queue, taken or not.)
    @Test func aReadingSubscriberGetsABurstLargerThanItsQueueWithoutBeingCut() async throws {
        let burst = 48
        let events = String(repeating: #"      - { topic: "big/all", data: "{{ body }}" }"# + "\n", count: burst)
        let config = SlowSubscriberTests.config(streams: "{ queue: 16 }").replacingOccurrences(
            of: #"    publish: { topic: "big/all", data: "{{ body }}" }"#, with: "    publish:\n" + events)
        try await withDaemon(config: config) { daemon in
            let reader = try ChildProcess(
                TestEnvironment.python, [TestEnvironment.client("pausing_client.py"), "127.0.0.1", "\(daemon.port)", "/events?topic=big/**", "tok"])
            defer { reader.signal(SIGTERM) }
            try await waitUntil("the client to be subscribed") { reader.stdout.contains("connected") }
            reader.writeLine("read \(2 * burst)")
            let padding = 128 * 1024
            let pad = String(repeating: "z", count: padding)
            for n in 1...2 {
                let ids = try await client.postWebhook(daemon, source: "big", json: #"{"n":\#(n),"pad":"\#(pad)"}"#)
                #expect(ids.count == burst, "one webhook, one drain of \(burst)")
            }
            try await waitUntil(timeout: .seconds(60), "the client's report") { reader.stdoutLines.count > 1 }
            let report = try JSONSerialization.jsonObject(with: Data(reader.stdoutLines[1].utf8)) as! [String: Any]
            var ids: [Int] = []
            for event in report["events"] as! [[Any]] {
                let id = event[0] as! Int
                let body = try JSONSerialization.jsonObject(with: Data((event[1] as! String).utf8)) as! [String: Any]
                #expect(body["n"] as? Int == (id - 1) / burst + 1, "event \(id) carries its webhook's body")
                #expect((body["pad"] as? String)?.count == padding, "event \(id) arrived whole")
                ids.append(id)
            }
            #expect(ids == Array(1...(2 * burst)))
            #expect((report["malformed"] as! [String]).isEmpty)
            #expect(report["eof"] as? Bool == false, "the stream is still open")
            #expect(!daemon.log.contains("Subscriber cut"))
        }
    }

    /// Retention deleting what a replay has not read yet: a client resumes at id 1 of 10,000 stored events (the
    /// per-topic cap) and reads nothing while 12,000 more arrive, so the store drops ids up to 12,000 while the
    /// replay is still on its first pages. The replay used to go on from the next stored event and the client never
    /// knew what it had missed; now a `hookstream.reset` comes before the gap. (The queue is large so that the
    /// client is not cut, which would reset it on reconnect.)
    @Test func eventsDeletedDuringAReplayAreAnnouncedByAReset() async throws {
        let config = SlowSubscriberTests.config(streams: "{ queue: 50000 }")
            + "\nstore: { kind: memory, retention: { max_events_per_topic: 10000 } }\n"
        try await withDaemon(config: config) { daemon in
            // In pipelines of 2,000: the client reads no answer before it has written every request.
            func publish(_ count: Int) async throws {
                for _ in 0..<(count / 2_000) {
                    let sent = try await ChildProcess.run(
                        "/usr/bin/env", ["python3", TestEnvironment.client("pipeline_client.py"), "\(daemon.port)", "big", "2000", "1000"])
                    #expect(sent.status == 0, "\(sent.stderr)")
                }
            }
            try await publish(10_000)
            let reader = try ChildProcess(
                TestEnvironment.python, [TestEnvironment.client("pausing_client.py"), "127.0.0.1", "\(daemon.port)", "/events?topic=big/**", "tok", "1"])
            defer { reader.signal(SIGTERM) }
            try await waitUntil("the resuming client to be subscribed") { reader.stdout.contains("connected") }
            try await publish(12_000)
            reader.writeLine("read 22000")
            try await waitUntil(timeout: .seconds(90), "the client's report") { reader.stdoutLines.count > 1 }
            let report = try JSONSerialization.jsonObject(with: Data(reader.stdoutLines[1].utf8)) as! [String: Any]
            let ids = (report["events"] as! [[Any]]).map { $0[0] as! Int }
            let resets = (report["resets"] as! [[String: Any]]).map { $0["at"] as! Int }
            #expect((report["malformed"] as! [String]).isEmpty)
            #expect(ids.first == 2 && ids.last == 22_000, "\(ids.prefix(3)) ... \(ids.suffix(3))")
            #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }, "in order, none twice")
            let gaps = ids.indices.dropFirst().filter { ids[$0] != ids[$0 - 1] + 1 }
            #expect(!gaps.isEmpty, "retention deleted events the replay had not read")
            // Each gap has a reset at it, or up to a page before it and after the gap before (the mark is read after
            // each page, so a delete racing the read of the page before the gap is announced then).
            var previous = -1
            for gap in gaps {
                #expect(resets.contains { $0 > previous && $0 <= gap && gap - $0 <= 2_000 }, "gap at id \(ids[gap]) (index \(gap)); resets at \(resets)")
                previous = gap
            }
        }
    }
}
