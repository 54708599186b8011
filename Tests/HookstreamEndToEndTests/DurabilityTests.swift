import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1
import Testing

/// The SQLite store under real process kills, restarts, retention and a full disk.
@Suite(.timeLimit(.minutes(5))) struct DurabilityTests {
    let client = HTTPClient.shared

    @Test func killNineLosesNothingThatWasAcknowledged() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let daemon = try await Daemon.start(directory: directory)
        let acknowledged = NIOLockedValueBox<[Int]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<4 {
                group.addTask {
                    for i in 0..<500 {
                        // After the kill every request fails: that ends this sender.
                        guard let ids = try? await client.postWebhook(daemon, json: #"{"channel":"s\#(sender)","i":\#(i)}"#) else { return }
                        acknowledged.withLockedValue { $0 += ids }
                    }
                }
            }
            group.addTask {
                try await waitUntil(timeout: .seconds(60), "500 acknowledged webhooks") { acknowledged.withLockedValue { $0.count } >= 500 }
                daemon.child.signal(SIGKILL)
            }
            try await group.waitForAll()
        }
        _ = try await daemon.child.waitForExit()
        #expect(daemon.child.process.terminationReason == .uncaughtSignal)
        let acked = acknowledged.withLockedValue { $0 }
        #expect(acked.count >= 500 && acked.count < 2000, "the kill came mid-way: \(acked.count) acknowledged")

        // Restart on the same folder (the stale Unix socket file is replaced) and replay from the start.
        let restarted = try await Daemon.start(directory: directory)
        let maxAcked = acked.max()!
        let stream = try await SSEStream.open("\(restarted.baseURL)/events?topic=demo/**", headers: [("Authorization", "Bearer demo-token"), ("Last-Event-ID", "0")])
        let replayed = try await stream.collect(timeout: .seconds(60)) { ($0.last?.id).flatMap { Int($0) } ?? 0 >= maxAcked }.map { Int($0.id!)! }
        #expect(Set(acked).isSubset(of: Set(replayed)), "every acknowledged id is replayed")
        #expect(zip(replayed, replayed.dropFirst()).allSatisfy { $0 < $1 }, "strictly increasing, no duplicates")
        // New ids continue after everything stored before the kill.
        let next = try await client.postWebhook(restarted, json: "{}")
        #expect(next.first! > maxAcked)
        try await restarted.stop()
    }

    @Test func clientsResumeAcrossARestartAndMissNothing() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        var daemon = try await Daemon.start(directory: directory)
        for i in 1...5 { _ = try await client.postWebhook(daemon, json: #"{"i":\#(i)}"#) }
        let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=demo/**&last_event_id=0", headers: [("Authorization", "Bearer demo-token")])
        let first = try await stream.collect { $0.count == 5 }
        let lastSeen = first.last!.id!
        #expect(lastSeen == "5")
        #expect(try await daemon.stop().status == 0)
        #expect(try await stream.next() == nil, "the stream ended with the daemon")
        // A clean stop closes the store: its append log was moved into SQLite and emptied, so the next start has
        // nothing to recover (a crash would leave the log for it; killNineLosesNothingThatWasAcknowledged).
        let log = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("var/hookstream.db-appendlog").path)
        #expect((log[.size] as? NSNumber)?.intValue == 0)

        // While the client is away: the daemon comes back and takes more events.
        daemon = try await Daemon.start(directory: directory)
        for i in 6...9 { _ = try await client.postWebhook(daemon, json: #"{"i":\#(i)}"#) }
        let resumed = try await SSEStream.open("\(daemon.baseURL)/events?topic=demo/**", headers: [("Authorization", "Bearer demo-token"), ("Last-Event-ID", lastSeen)])
        let missed = try await resumed.collect { $0.count == 4 }
        #expect(missed.map(\.id) == ["6", "7", "8", "9"])
        _ = try await client.postWebhook(daemon, json: #"{"i":10}"#)
        #expect(try await resumed.collect { $0.count == 1 }.map(\.data) == [#"{"i":10}"#])
        try await daemon.stop()
    }

    @Test func resumingPastRetentionGetsAResetEventFirst() async throws {
        let config = """
            store: { kind: sqlite, path: ./var/events.db, retention: { max_events_per_topic: 5, interval: 50ms } }
            auth:
              tokens: [{ name: t, secret: { value: tok }, subscribe: ["news/**"] }]
            sources: { news: {} }
            rules:
              - { name: news, source: news, publish: { topic: "news/all" } }
            """
        try await withDaemon(config: config) { daemon in
            for i in 1...20 { _ = try await client.postWebhook(daemon, source: "news", json: #"{"i":\#(i)}"#) }
            try await waitUntil("retention to prune") { daemon.log.contains("Retention pruned events") }
            let python = try ChildProcess(
                TestEnvironment.python,
                [TestEnvironment.client("sse_client.py"), "--url", "\(daemon.baseURL)/events?topic=news/**", "--count", "6",
                 "--header", "Authorization: Bearer tok", "--header", "Last-Event-ID: 2"])
            #expect(try await python.waitForExit() == 0)
            let events = try python.stdoutLines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.filter { $0["event"] != nil }
            #expect(events.first?["event"] as? String == "hookstream.reset")
            #expect(events.first?["data"] as? String == #"{"reason":"retention","last_event_id":2,"oldest_id":16}"#)
            #expect(events.dropFirst().map { $0["id"] as? String } == ["16", "17", "18", "19", "20"])
        }
    }

    /// `store.retention.max_events` bounds the whole store. Bad input: a source whose rule makes a topic of every
    /// message (40 topics of one event each, which no per-topic bound holds back). The oldest go, and a resume from
    /// before them is told so.
    @Test func aTopicPerMessageIsBoundedByMaxEvents() async throws {
        let config = """
            store: { kind: sqlite, path: ./var/events.db, retention: { max_events: 10, interval: 50ms } }
            auth:
              tokens: [{ name: t, secret: { value: tok }, subscribe: ["news/**"] }]
            sources: { news: {} }
            rules:
              - { name: news, source: news, publish: { topic: "news/{{ body.i }}" } }
            """
        try await withDaemon(config: config) { daemon in
            for i in 1...40 { _ = try await client.postWebhook(daemon, source: "news", json: #"{"i":\#(i)}"#) }
            try await waitUntil("retention to prune 30 events") {
                daemon.log.split(separator: "\n").filter { $0.contains("Retention pruned events") }.reduce(0) { total, line in
                    total + (line.split(separator: " ").first { $0.hasPrefix("hookstream.pruned=") }.flatMap { Int($0.dropFirst(18)) } ?? 0)
                } == 30
            }
            let python = try ChildProcess(
                TestEnvironment.python,
                [TestEnvironment.client("sse_client.py"), "--url", "\(daemon.baseURL)/events?topic=news/**", "--count", "11",
                 "--header", "Authorization: Bearer tok", "--header", "Last-Event-ID: 2"])
            #expect(try await python.waitForExit() == 0)
            let events = try python.stdoutLines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.filter { $0["event"] != nil }
            #expect(events.first?["event"] as? String == "hookstream.reset")
            #expect(events.first?["data"] as? String == #"{"reason":"retention","last_event_id":2,"oldest_id":31}"#)
            #expect(events.dropFirst().map { $0["id"] as? String } == (31...40).map(String.init))
        }
    }

    @Test func aFullDiskAnswers503AndRecoversByItself() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let mount = directory.appendingPathComponent("var").path
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        // Bad input for the store: a 2 MiB tmpfs (the tests run as root), filled up while the daemon runs.
        let mounted = try await ChildProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mount])
        #expect(mounted.status == 0, "mount: \(mounted.stderr)")
        guard mounted.status == 0 else { return }
        // If the test fails before its end, the daemon is killed when its process object goes, and the mount is
        // detached here (lazily, since the daemon may still hold files in it); on success it is unmounted below.
        var unmounted = false
        defer { if !unmounted { _ = try? Process.run(URL(fileURLWithPath: "/bin/umount"), arguments: ["-l", mount]) } }

        let daemon = try await Daemon.start(directory: directory)
        var acked = try await client.postWebhook(daemon, json: #"{"before":"full"}"#)
        // Leave about 64 KiB free, then post 8 KiB events until the store refuses.
        let filler = mount + "/filler"
        let free = try ChildProcess.freeBytes(mount)
        _ = FileManager.default.createFile(atPath: filler, contents: Data(count: max(0, free - 64 * 1024)))
        let padding = String(repeating: "p", count: 8 * 1024)
        var refused: (status: UInt, headers: HTTPHeaders, body: String)?
        for i in 0..<200 {
            let response = try await client.send(.POST, "\(daemon.baseURL)/hooks/demo", body: #"{"i":\#(i),"pad":"\#(padding)"}"#, headers: [("Content-Type", "application/json")])
            if response.status == 202 {
                let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as! [String: Any]
                acked += object["ids"] as! [Int]
            } else {
                refused = response
                break
            }
        }
        let failure = try #require(refused, "the store never filled up")
        #expect(failure.status == 503)
        #expect(failure.body.contains(#""error":"store_unavailable""#))
        // The log is read through a pipe: wait for the line rather than assume it is there already.
        try await waitUntil("the store error in the log") { daemon.log.contains("cannot write") }
        let refusing = try await client.send(.GET, "\(daemon.baseURL)/readyz")
        #expect(refusing.status == 503 && refusing.body.contains(#""error":"store_unavailable""#), "\(refusing)")
        #expect(!refusing.body.contains(mount), "no path in the answer: \(refusing.body)")
        // Senders keep trying while it refuses (bad input for the log: a flood of refusals). Each is told, the log says
        // so at most once per 10 s with a count, not once per message.
        var webhooksRefused = 1
        for i in 0..<6 {
            let again = try await client.send(.POST, "\(daemon.baseURL)/hooks/demo", body: #"{"again":\#(i),"pad":"\#(padding)"}"#, headers: [("Content-Type", "application/json")])
            if again.status == 202 {
                acked += (try JSONSerialization.jsonObject(with: Data(again.body.utf8)) as! [String: Any])["ids"] as! [Int]
            } else {
                #expect(again.status == 503, "\(again)")
                webhooksRefused += 1
            }
        }
        let socket = try UnixSocketClient(path: daemon.socketPath)
        var linesRefused = 0
        for _ in 0..<6 {
            let answer = try socket.request(#"{"topic":"local/full","data":"\#(padding)"}"#)
            if answer.contains(#""ok":false"#) { linesRefused += 1 }
        }
        let logLines = daemon.log.split(separator: "\n")
        let webhookLines = logLines.filter { $0.contains("Not stored: the event store failed") }
        let socketLines = logLines.filter { $0.contains("Unix socket line not stored") }
        #expect(webhooksRefused >= 3 && linesRefused >= 3, "the store kept refusing: \(webhooksRefused) webhooks, \(linesRefused) lines")
        #expect(webhookLines.count <= 2 && webhookLines.count < webhooksRefused, "\(webhookLines)")
        #expect(socketLines.count <= 2 && socketLines.count < linesRefused, "\(socketLines)")
        #expect(webhookLines.first?.contains("refused=1") == true && socketLines.first?.contains("refused=1") == true)

        // Space comes back: the next webhook is stored, with no restart.
        try FileManager.default.removeItem(atPath: filler)
        acked += try await client.postWebhook(daemon, json: #"{"after":"recovery"}"#)
        try await waitUntil("/readyz says ready again") {
            try await client.send(.GET, "\(daemon.baseURL)/readyz").body.contains(#""status":"ready""#)
        }
        let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=demo/**", headers: [("Authorization", "Bearer demo-token"), ("Last-Event-ID", "0")])
        let expected = acked
        let replayed = try await stream.collect { $0.count == expected.count }.map { Int($0.id!)! }
        #expect(replayed == acked, "everything acknowledged before and after the full disk is there, nothing else")
        try await daemon.stop()
        let unmount = try await ChildProcess.run("/bin/umount", [mount])
        #expect(unmount.status == 0, "umount: \(unmount.stderr)")
        unmounted = unmount.status == 0
    }

    /// Bad input for the store: its database refuses every insert (a trigger that another process adds, as a broken
    /// file or a read-only remount would). Webhooks are still accepted (the append log has them); `/readyz` says
    /// `degraded` with a reason that names no path and no SQLite error; once the database takes writes again it says
    /// `ready`, and every accepted event is in the database.
    @Test func readinessIsDegradedWhileTheDatabaseRefusesWrites() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let daemon = try await Daemon.start(directory: directory)
        let database = directory.appendingPathComponent("var/hookstream.db").path
        func sql(_ statement: String) async throws -> String {
            let result = try await ChildProcess.run(TestEnvironment.python, [
                "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=10); print(c.execute(sys.argv[2]).fetchall()); c.commit()",
                database, statement,
            ])
            if result.status != 0 { throw HarnessError("sqlite3: \(result.stderr)") }
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var acked = try await client.postWebhook(daemon, json: #"{"before":"refusal"}"#)
        let ready = try await client.send(.GET, "\(daemon.baseURL)/readyz")
        #expect(ready.status == 200 && ready.body.contains(#""status":"ready""#), "\(ready)")

        _ = try await sql("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(FAIL, 'refused by the test'); END")
        acked += try await client.postWebhook(daemon, json: #"{"during":"refusal"}"#)
        var degraded = ""
        try await waitUntil(timeout: .seconds(10), "/readyz says degraded") {
            let answer = try await client.send(.GET, "\(daemon.baseURL)/readyz")
            degraded = "\(answer.status) \(answer.body)"
            return answer.body.contains(#""status":"degraded""#)
        }
        #expect(degraded.hasPrefix("200 "), "still taking events: \(degraded)")
        #expect(degraded.contains("cannot write its database"), "\(degraded)")
        #expect(!degraded.contains("refused by the test") && !degraded.contains(directory.path), "no SQLite error, no path: \(degraded)")
        #expect(daemon.log.contains("cannot apply its append log"))
        acked += try await client.postWebhook(daemon, json: #"{"still":"refusal"}"#)

        _ = try await sql("DROP TRIGGER refuse")
        try await waitUntil(timeout: .seconds(10), "/readyz says ready again") {
            try await client.send(.GET, "\(daemon.baseURL)/readyz").body.contains(#""status":"ready""#)
        }
        #expect(try await sql("SELECT id FROM events ORDER BY id") == "[" + acked.map { "(\($0),)" }.joined(separator: ", ") + "]")
        try await daemon.stop()
    }

    @Test func aMissingStoreFolderIsAConfigErrorAtStart() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let config = directory.appendingPathComponent("c.yaml").path
        try "store: { kind: sqlite, path: /nonexistent-hookstream/events.db }\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await ChildProcess.run(TestEnvironment.binary, ["serve", "--config", config, "--listen", "127.0.0.1:0"])
        #expect(result.status == 78)
        #expect(result.stderr.contains("the store folder '/nonexistent-hookstream' does not exist"))
    }
}

extension DurabilityTests {
    /// Bad input: a second daemon on the store a running one holds. It used to open it anyway: both numbered ids from
    /// their own memory and emptied each other's append log, so acknowledged events were lost. It now exits 78 (a
    /// setup error: systemd does not restart it) before touching the store, and the first goes on as before.
    @Test func aSecondDaemonOnTheSameStoreIsRefused() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let store = directory.appendingPathComponent("var/hookstream.db").path
        let config = "store: { kind: sqlite, path: \(store) }\nsources: { demo: {} }\nrules: [ { name: r, source: demo, publish: { topic: demo/x } } ]\n"
        try await withDaemon(config: config, directory: directory) { daemon in
            #expect(try await HTTPClient.shared.postWebhook(daemon, json: "{}") == [1])
            let second = try await ChildProcess.run(
                TestEnvironment.binary, ["serve", "--config", daemon.directory.appendingPathComponent("hookstream.yaml").path, "--listen", "127.0.0.1:0"])
            #expect(second.status == 78)
            #expect(second.stderr.contains("is in use by another hookstream process"), "\(second.stderr)")
            #expect(try await HTTPClient.shared.postWebhook(daemon, json: "{}") == [2])
        }
    }

    /// Bad input: a store file that is not a database. Opening fails on the way, which a restart after a fix may
    /// cure: exit 70, which systemd restarts (78 would have left the service down for good, as after a crash
    /// on a full disk).
    @Test func aStoreThatFailsToOpenExits70() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let store = directory.appendingPathComponent("events.db").path
        try String(repeating: "not a database ", count: 512).write(toFile: store, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("c.yaml").path
        try "store: { kind: sqlite, path: \(store) }\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await ChildProcess.run(TestEnvironment.binary, ["serve", "--config", config, "--listen", "127.0.0.1:0"])
        #expect(result.status == 70)
        #expect(result.stderr.contains("cannot open the SQLite store"), "\(result.stderr)")
    }
}

extension ChildProcess {
    /// Free bytes on the file system holding `path`.
    static func freeBytes(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfFileSystem(forPath: path)
        return (attributes[.systemFreeSize] as? NSNumber)?.intValue ?? 0
    }
}
