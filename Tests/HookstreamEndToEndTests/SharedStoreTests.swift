import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// `store.kind: postgres`: two real daemons on one PostgreSQL database (a scratch server of this test), as behind a
/// load balancer. What one takes, the other's subscribers get, in one id sequence; a resume on either reads the shared
/// log; a database that goes away is a clear 503 and nothing accepted is lost; both catch up once it is back.
@Suite(.timeLimit(.minutes(3))) struct SharedStoreTests {
    let client = HTTPClient.shared

    /// The default config's demo source, rule and token, on a PostgreSQL store reached through `socketFolder`.
    private func config(_ socketFolder: String, retention: String = "{}", source: String = "{}") -> String {
        """
        store:
          kind: postgres
          postgres: { host: "\(socketFolder)", user: hookstream, database: postgres }
          retention: \(retention)
        auth:
          tokens:
            - name: demo
              secret: { value: demo-token }
              subscribe: ["demo/**"]
        sources:
          demo: \(source)
        rules:
          - name: demo-webhook
            source: demo
            publish:
              topic: "demo/{{ body.channel | default: 'general' }}"
              data: "{{ body }}"
        """
    }

    private func postgres(_ command: String, _ folder: String) async throws {
        let script = TestEnvironment.packageRoot.appendingPathComponent("scripts/postgres-scratch").path
        let result = try await ChildProcess.run(script, [command, folder])
        guard result.status == 0 else { throw HarnessError("postgres-scratch \(command) failed: \(result.stdout)\(result.stderr)") }
    }

    private func ids(in curl: ChildProcess) -> [Int] {
        curl.stdout.matches(of: /data:[^\n]*\nid: (\d+)\n/).map { Int($0.1)! }
    }

    /// Runs `body` with a scratch PostgreSQL server's socket folder, and stops the server after.
    private func withPostgres(_ body: (String) async throws -> Void) async throws {
        let folder = try TestEnvironment.makeTemporaryDirectory().appendingPathComponent("pg").path
        try await postgres("start", folder)
        do {
            try await body(folder)
            try await postgres("stop", folder)
        } catch {
            try? await postgres("stop", folder)
            throw error
        }
    }

    @Test func twoDaemonsShareOneLogAndSurviveTheDatabaseGoingAway() async throws {
        try await withPostgres { folder in try await runTwoDaemons(on: folder) }
    }

    /// A daemon that does not hear the other (frozen with SIGSTOP) while the other's retention prunes what it appended:
    /// once it runs again, its open stream is ended (it is owed events that are gone), and a resume by `Last-Event-ID`
    /// gets a `hookstream.reset` and then what is left, where the stream would otherwise have gone on without a word.
    @Test func aStreamOwedEventsPrunedBeforeItsDaemonReadThemIsEndedAndItsResumeIsReset() async throws {
        try await withPostgres { folder in
            // The first prunes each topic to its last 5, five times a second; the second keeps its pass to once a minute.
            try await withDaemon(config: config(folder, retention: "{ max_events_per_topic: 5, interval: 200ms }")) { first in
                try await withDaemon(config: config(folder)) { second in
                    let url = "/events?topic=demo/**&access_token=demo-token"
                    let live = try ChildProcess("/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "60", "\(first.baseURL)\(url)"])
                    let owed = try ChildProcess("/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "60", "\(second.baseURL)\(url)"])
                    try await waitUntil("both streams to open") { [live, owed].allSatisfy { $0.stdout.contains(": hookstream stream open") } }
                    for n in 0..<2 { _ = try await client.postWebhook(first, json: #"{"channel":"c","n":\#(n)}"#) }
                    try await waitUntil("two events on the second daemon's stream") { ids(in: owed).count >= 2 }

                    second.child.signal(SIGSTOP)
                    do {
                        for n in 2..<22 { _ = try await client.postWebhook(first, json: #"{"channel":"c","n":\#(n)}"#) }
                        try await waitUntil("the first daemon's retention to prune demo/c through id 17") {
                            let mark = try await ChildProcess.run(
                                "/usr/bin/env", ["psql", "-X", "-A", "-t", "-h", folder, "-U", "hookstream", "-d", "postgres", "-c",
                                                 "SELECT coalesce(max(pruned_through), 0) FROM hookstream_topics WHERE name = 'demo/c'"])
                            return Int(mark.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == 17
                        }
                    } catch {
                        second.child.signal(SIGCONT)  // its stop, after, must find it running
                        throw error
                    }
                    second.child.signal(SIGCONT)

                    // The stream that was owed 3…17 gets none of what follows them: it is told to come back, and ends.
                    #expect(try await owed.waitForExit(timeout: .seconds(20)) == 0, "\(owed.stdout)")
                    #expect(ids(in: owed) == [1, 2], "\(owed.stdout)")
                    #expect(owed.stdout.contains("retry: "), "\(owed.stdout)")
                    #expect(second.log.contains("were pruned from the PostgreSQL store before this instance read them"), "\(second.log)")
                    // Its resume: the reset first (no id, so Last-Event-ID stays at 2), then what is left.
                    let resumed = try await SSEStream.open("\(second.baseURL)/events?topic=demo/**&lastEventId=2", headers: [("Authorization", "Bearer demo-token")])
                    let events = try await resumed.collect { $0.count == 6 }
                    #expect(events.first?.event == "hookstream.reset", "\(events)")
                    #expect(events.first?.data.contains(#""last_event_id":2"#) == true && events.first?.data.contains(#""oldest_id":18"#) == true, "\(events)")
                    #expect(events.dropFirst().map(\.id) == ["18", "19", "20", "21", "22"])
                    // The daemon that published had nothing to miss: its stream has every event, in order.
                    try await waitUntil("22 events on the first daemon's stream") { ids(in: live).count >= 22 }
                    #expect(ids(in: live) == Array(1...22))
                    live.signal(SIGTERM)
                    #expect(try await second.stop().status == 0, "\(second.log)")
                }
                #expect(try await first.stop().status == 0, "\(first.log)")
            }
        }
    }

    private func runTwoDaemons(on folder: String) async throws {
        let yaml = config(folder)
        try await withDaemon(config: yaml) { first in
            try await withDaemon(config: yaml) { second in
                let curls = try [first, second].map { daemon in
                    try ChildProcess(
                        "/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "60", "\(daemon.baseURL)/events?topic=demo/**&access_token=demo-token"])
                }
                try await waitUntil("both streams to open") { curls.allSatisfy { $0.stdout.contains(": hookstream stream open") } }

                // Webhooks to either daemon, alternating: one id sequence, every event on both streams, in order.
                for n in 0..<6 {
                    let ids = try await client.postWebhook(n % 2 == 0 ? first : second, json: #"{"channel":"c","n":\#(n)}"#)
                    #expect(ids == [n + 1])
                }
                for curl in curls {
                    try await waitUntil("six events on a stream") { ids(in: curl).count >= 6 }
                    #expect(ids(in: curl) == Array(1...6))
                }

                // A resume on the other daemon reads what the first stored.
                let replay = try await SSEStream.open("\(second.baseURL)/events?topic=demo/**&lastEventId=4", headers: [("Authorization", "Bearer demo-token")])
                #expect(try await replay.collect { $0.count == 2 }.map(\.id) == ["5", "6"])

                // Bad input from outside: the database stops. A webhook is refused with a JSON 503, readiness says so,
                // and the events accepted before are kept.
                try await postgres("stop", folder)
                let refused = try await client.send(
                    .POST, "\(first.baseURL)/hooks/demo", body: #"{"channel":"c","n":"lost"}"#, headers: [("Content-Type", "application/json")])
                #expect(refused.status == 503, "\(refused.body)")
                #expect(refused.body.contains(#""error""#) && !refused.body.contains("postgresql://"), "\(refused.body)")
                let ready = try await client.send(.GET, "\(first.baseURL)/readyz")
                #expect(ready.status == 503, "\(ready.body)")

                // Back: appends work again, and the other daemon's listener reconnects and delivers them.
                try await postgres("start", folder)
                try await waitUntil(timeout: .seconds(30), "the first daemon to take events again") {
                    (try? await client.postWebhook(first, json: #"{"channel":"c","n":"back"}"#)) != nil
                }
                for curl in curls {
                    try await waitUntil(timeout: .seconds(30), "the event after the outage on a stream") { ids(in: curl).count >= 7 }
                    #expect(ids(in: curl) == Array(1...7), "nothing doubled or lost, and the refused webhook took no id")
                }
                #expect(try await client.send(.GET, "\(first.baseURL)/readyz").status == 200)
                #expect(try await client.send(.GET, "\(second.baseURL)/readyz").status == 200)
                for curl in curls { curl.signal(SIGTERM) }
                // A clean stop: the store closes after the listeners, its service last, and the exit status says so.
                #expect(try await second.stop().status == 0, "\(second.log)")
            }
            #expect(try await first.stop().status == 0, "\(first.log)")
        }
    }

    /// Redeliveries racing each other across instances: five deliveries, each sent six times at once, three times to
    /// each daemon. Both daemons find no record before they append; the append, behind the lock that orders every
    /// instance's appends, finds the other's. Each delivery is stored once: its six answers carry the same id, five
    /// of them marked duplicate, and the log holds five events.
    @Test func aDeliverySentToBothDaemonsAtOnceIsStoredOnce() async throws {
        try await withPostgres { folder in
            let yaml = config(folder, source: "{ dedupe: { header: X-Request-Id, window: 1h } }")
            try await withDaemon(config: yaml) { first in
                try await withDaemon(config: yaml) { second in
                    let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                        for delivery in 0..<5 {
                            for copy in 0..<6 {
                                let daemon = copy % 2 == 0 ? first : second
                                group.addTask {
                                    let response = try await client.send(
                                        .POST, "\(daemon.baseURL)/hooks/demo", body: #"{"channel":"d","n":\#(delivery)}"#,
                                        headers: [("Content-Type", "application/json"), ("X-Request-Id", "delivery-\(delivery)")])
                                    #expect(response.status == 202, "\(response.body)")
                                    return (delivery, response.body)
                                }
                            }
                        }
                        var answers: [Int: [String]] = [:]
                        for try await (delivery, body) in group { answers[delivery, default: []].append(body) }
                        return answers
                    }
                    var ids: [Int] = []
                    for (delivery, bodies) in answers.sorted(by: { $0.key < $1.key }) {
                        let distinct = Set(bodies.map { $0.firstMatch(of: /"ids":\[(\d+)\]/).map { String($0.1) } ?? $0 })
                        #expect(distinct.count == 1, "delivery \(delivery) stored once: \(bodies)")
                        #expect(bodies.filter { $0.contains(#""duplicate":true"#) }.count == 5, "\(bodies)")
                        ids += distinct.compactMap { Int($0) }
                    }
                    #expect(ids.sorted() == Array(1...5), "five events, ids dense: \(answers)")
                    let replay = try await SSEStream.open("\(second.baseURL)/events?topic=demo/**&lastEventId=0", headers: [("Authorization", "Bearer demo-token")])
                    #expect(try await replay.collect { $0.count == 5 }.map(\.id) == ["1", "2", "3", "4", "5"])
                    #expect(try await client.postWebhook(first, json: #"{"channel":"d","n":"after"}"#) == [6], "no id was taken by a copy")
                    // Each commit's time is in /metrics, as the SQLite store's.
                    let metrics = try await client.send(.GET, "\(first.baseURL)/metrics").body
                    let commits = metrics.split(separator: "\n").first { $0.hasPrefix("hookstream_store_commit_seconds_count ") }
                        .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
                    #expect(commits >= 1, "\(metrics)")
                }
            }
        }
    }

    /// Bad input in the file: a PostgreSQL store without its database, and a bad TLS mode, each told with its position.
    @Test func aPostgresStoreWithoutItsSettingsIsAConfigError() async throws {
        let folder = try TestEnvironment.makeTemporaryDirectory()
        let path = folder.appendingPathComponent("bad.yaml").path
        try "store:\n  kind: postgres\n".write(toFile: path, atomically: true, encoding: .utf8)
        let missing = try await ChildProcess.run(TestEnvironment.binary, ["check", "--config", path])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("\(path):2:9: error: store.kind postgres needs store.postgres"), "\(missing.stderr)")
        try "store:\n  kind: postgres\n  postgres:\n    host: db\n    tls: sometimes\n".write(toFile: path, atomically: true, encoding: .utf8)
        let tls = try await ChildProcess.run(TestEnvironment.binary, ["check", "--config", path])
        #expect(tls.stderr.contains("\(path):5:10: error: store.postgres.tls must be disable, prefer or require, found 'sometimes'"), "\(tls.stderr)")
    }
}
