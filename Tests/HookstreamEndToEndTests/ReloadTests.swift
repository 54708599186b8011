import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// Reloading the config while streams are open: on SIGHUP and on a change of the file; valid files apply at once,
/// invalid ones are rejected with positions and change nothing.
@Suite(.timeLimit(.minutes(2))) struct ReloadTests {
    let client = HTTPClient.shared

    static func config(topic: String, heartbeat: String = "1h", grants: String = #"["a/**", "b/**"]"#, extraToken: Bool = false) -> String {
        """
        store: { kind: memory }
        streams: { heartbeat: \(heartbeat) }
        auth:
          tokens:
            - { name: reader, secret: { value: reader-token }, subscribe: \(grants) }
        \(extraToken ? "    - { name: late, secret: { value: late-token }, subscribe: [\"a/**\"] }" : "")
        sources: { app: {} }
        rules:
          - { name: route, source: app, publish: { topic: "\(topic)" } }
        """
    }

    private func write(_ yaml: String, to daemon: Daemon) throws {
        try yaml.write(to: daemon.directory.appendingPathComponent("hookstream.yaml"), atomically: true, encoding: .utf8)
    }

    private func count(_ text: String, in log: String) -> Int { log.components(separatedBy: text).count - 1 }

    @Test func aValidReloadAppliesAtOnceAndKeepsOpenStreams() async throws {
        try await withDaemon(config: Self.config(topic: "a/x")) { daemon in
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=a/x&topic=b/y", headers: [("Authorization", "Bearer reader-token")])
            let curl = try ChildProcess("/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "30", "\(daemon.baseURL)/events?topic=a/x&access_token=reader-token"])
            #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [1])
            // New rules, a new token and a 100 ms heartbeat.
            try write(Self.config(topic: "b/y", heartbeat: "100ms", extraToken: true), to: daemon)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the reload") { daemon.log.contains("config reloaded") }
            #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [2])
            let events = try await stream.collect { $0.count == 2 }
            #expect(events.map(\.id) == ["1", "2"], "the stream opened before the reload gets events of the old and the new rules")
            try await waitUntil("heartbeats at the new period") { count(": heartbeat", in: curl.stdout) >= 3 }
            // The token added by the reload works, and resumes like any other.
            let late = try await SSEStream.open("\(daemon.baseURL)/events?topic=a/x&access_token=late-token&lastEventId=0")
            #expect(late.response.status == .ok)
            #expect(try await late.collect { $0.count == 1 }.map(\.id) == ["1"])
            #expect(daemon.log.contains("trigger=SIGHUP"))
            curl.signal(SIGTERM)
        }
    }

    /// An edit followed at once by SIGHUP (the usual `vi`, then `systemctl reload`) is reloaded once: the file watcher
    /// sees the same edit after the signal handled it. Bad input: an invalid edit, rejected once (it was logged, counted
    /// and told to systemd twice); then a valid one, applied once, and not called "saved without a change".
    @Test func anEditThenSIGHUPIsReloadedOnce() async throws {
        try await withDaemon(config: Self.config(topic: "a/x")) { daemon in
            try write(Self.config(topic: "a/x") + "\nstreams: [oops\n", to: daemon)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the watcher's turn") { daemon.log.contains("config file change already reloaded by SIGHUP") }
            #expect(count("config rejected", in: daemon.log) == 1, "\(daemon.log)")
            try write(Self.config(topic: "b/y"), to: daemon)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the watcher's turn again") { count("config file change already reloaded by SIGHUP", in: daemon.log) == 2 }
            #expect(count("config reloaded", in: daemon.log) == 1, "\(daemon.log)")
            #expect(!daemon.log.contains("saved without a change"), "\(daemon.log)")
            #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [1])
        }
    }

    /// A reload that gives a rule of the same name another source: its matches after it are counted under the new
    /// source, not added to the old source's series.
    @Test func aRuleMovedToAnotherSourceIsCountedUnderIt() async throws {
        try await withDaemon(config: Self.config(topic: "a/x")) { daemon in
            #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [1])
            try write(
                Self.config(topic: "a/x").replacingOccurrences(of: "sources: { app: {} }", with: "sources: { app: {}, other: {} }")
                    .replacingOccurrences(of: "source: app,", with: "source: other,"),
                to: daemon)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the reload") { daemon.log.contains("config reloaded") }
            #expect(try await client.postWebhook(daemon, source: "other", json: "{}") == [2])
            let metrics = try await client.send(.GET, "\(daemon.baseURL)/metrics").body
            #expect(metrics.contains(#"hookstream_rule_matches_total{source="app",rule="route"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"hookstream_rule_matches_total{source="other",rule="route"} 1"#), "\(metrics)")
        }
    }

    /// Bad input: tickets issued before a reload that takes the token's topics away, redeemed after it (a page, or
    /// someone who stockpiled them with a leaked token). The reload's check of open streams has come and gone; the
    /// ticket's credential is checked again when it is redeemed: `403`. A ticket for topics still granted opens.
    /// (Before, the grant of the issue held, and the stream got the withdrawn topics until the next reload.)
    @Test func aTicketIssuedBeforeAReloadIsCheckedAgainstTheNewGrants() async throws {
        try await withDaemon(config: Self.config(topic: "a/x")) { daemon in
            func ticket(_ topic: String) async throws -> String {
                let answer = try await client.send(
                    .POST, "\(daemon.baseURL)/tickets", body: #"{"topics":["\#(topic)"]}"#,
                    headers: [("Authorization", "Bearer reader-token"), ("Content-Type", "application/json")])
                #expect(answer.status == 200, "\(answer.body)")
                let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
                return try #require(object?["ticket"] as? String)
            }
            let withdrawn = try await ticket("a/x")
            let kept = try await ticket("b/y")
            try write(Self.config(topic: "a/x", grants: #"["b/**"]"#), to: daemon)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the reload") { daemon.log.contains("config reloaded") }

            let refused = try await SSEStream.open("\(daemon.baseURL)/events?topic=a/x&ticket=\(withdrawn)")
            #expect(refused.response.status == .forbidden)
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=b/y&ticket=\(kept)")
            #expect(stream.response.status == .ok)
        }
    }

    @Test func anInvalidFileIsRejectedWithPositionsAndNothingChanges() async throws {
        try await withDaemon(config: Self.config(topic: "a/x")) { daemon in
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=a/x", headers: [("Authorization", "Bearer reader-token")])
            // Bad input: a rule naming an undeclared source and a regex that does not compile.
            try write(
                Self.config(topic: "b/y").replacingOccurrences(of: "source: app, publish", with: #"source: nope, when: { body.x: { regex: "(" } }, publish"#),
                to: daemon)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the rejection") { daemon.log.contains("config rejected") }
            let path = daemon.directory.appendingPathComponent("hookstream.yaml").path
            #expect(daemon.log.contains("\(path):9:28: error: rule 'route' names source 'nope', which is not declared"), "\(daemon.log)")
            #expect(daemon.log.contains("\(path):9:59: error: rules[0].when.body.x.regex: invalid regular expression"), "\(daemon.log)")
            // The running configuration stays: the old rule still routes to a/x, and the stream is open.
            #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [1])
            #expect(try await stream.collect { $0.count == 1 }.map(\.id) == ["1"])
        }
    }

    @Test func aChangedFileReloadsWithoutASignal() async throws {
        try await withDaemon(config: Self.config(topic: "a/x")) { daemon in
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=b/**", headers: [("Authorization", "Bearer reader-token")])
            try write(Self.config(topic: "b/z"), to: daemon)
            try await waitUntil("the watcher's reload") { daemon.log.contains("config reloaded") }
            #expect(daemon.log.contains("trigger=\"file changed\"") || daemon.log.contains("trigger=file changed"), "\(daemon.log)")
            #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [1])
            #expect(try await stream.collect { $0.count == 1 }.map(\.id) == ["1"])
            // Writing the same text again is noticed, and reloads nothing.
            let reloads = count("config reloaded", in: daemon.log)
            try write(Self.config(topic: "b/z"), to: daemon)
            try await waitUntil("the watcher to notice the unchanged file") { daemon.log.contains("config file saved without a change; not reloaded") }
            #expect(count("config reloaded", in: daemon.log) == reloads)
            // Bad input: an edit that breaks the file is rejected; putting the running text back says so in the log
            // (the last line would otherwise still be the rejection), and reloads nothing.
            try write("rules: [", to: daemon)
            try await waitUntil("the rejection") { daemon.log.contains("config rejected") }
            try write(Self.config(topic: "b/z"), to: daemon)
            try await waitUntil("the file put back") { daemon.log.contains("config file back to the running configuration") }
            #expect(count("config reloaded", in: daemon.log) == reloads)
        }
    }

    @Test func aStreamWhoseTokenLostATopicIsEnded() async throws {
        try await withDaemon(config: Self.config(topic: "a/x")) { daemon in
            let kept = try await SSEStream.open("\(daemon.baseURL)/events?topic=a/x", headers: [("Authorization", "Bearer reader-token")])
            let lost = try await SSEStream.open("\(daemon.baseURL)/events?topic=b/**", headers: [("Authorization", "Bearer reader-token")])
            try write(Self.config(topic: "a/x", grants: #"["a/**"]"#), to: daemon)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the reload") { daemon.log.contains("config reloaded") }
            let last = try await lost.collect { $0.count == 1 }
            #expect(last.first?.event == "hookstream.revoked")
            #expect(try await lost.next() == nil, "the stream ends after telling why")
            #expect(daemon.log.contains("streams_ended=1"))
            #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [1])
            #expect(try await kept.collect { $0.count == 1 }.map(\.id) == ["1"], "a stream still granted keeps streaming")
            let refused = try await client.send(.GET, "\(daemon.baseURL)/events?topic=b/x", headers: [("Authorization", "Bearer reader-token")])
            #expect(refused.status == 403)
        }
    }

    /// A reload that shortens `store.retention.interval` puts it in force at once: the pass that waited out the old
    /// hour runs now, and then every second. Before, the new period began only when the old one ended.
    @Test func aShorterRetentionIntervalAppliesAtOnce() async throws {
        func config(interval: String) -> String {
            Self.config(topic: "a/x").replacingOccurrences(
                of: "store: { kind: memory }",
                with: "store: { kind: sqlite, path: ./var/hookstream.db, retention: { max_events_per_topic: 2, interval: \(interval) } }")
        }
        try await withDaemon(config: config(interval: "1h")) { daemon in
            for n in 1...5 { #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [n]) }
            try write(config(interval: "1s"), to: daemon)
            daemon.child.signal(SIGHUP)
            try await waitUntil(timeout: .seconds(10), "the pass the reload started") { daemon.log.contains("hookstream.pruned=3") }
            #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [6])
            try await waitUntil(timeout: .seconds(10), "a pass a second later") { daemon.log.contains("hookstream.pruned=1") }
        }
    }

    @Test func settingsThatNeedARestartAreNamed() async throws {
        try await withDaemon(config: Self.config(topic: "a/x")) { daemon in
            try write(Self.config(topic: "a/x").replacingOccurrences(of: "store: { kind: memory }", with: "store: { kind: sqlite, path: ./var/other.db }"), to: daemon)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the reload") { daemon.log.contains("take effect only after a restart") }
            #expect(daemon.log.contains("store.kind, store.path"), "\(daemon.log)")
            #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [1])

            // Named against what runs, not against the reload before: a later reload that leaves the store as the
            // file now says still needs the restart, and one that puts the running store back needs none.
            func reload(_ config: String) async throws -> String {
                let before = daemon.log.components(separatedBy: "config reloaded").count
                try write(config, to: daemon)
                daemon.child.signal(SIGHUP)
                try await waitUntil("the reload") { daemon.log.components(separatedBy: "config reloaded").count > before }
                return String(daemon.log.split(separator: "\n").last { $0.contains("config reloaded") } ?? "")
            }
            let other = Self.config(topic: "a/y").replacingOccurrences(of: "store: { kind: memory }", with: "store: { kind: sqlite, path: ./var/other.db }")
            let again = try await reload(other)
            #expect(again.contains("take effect only after a restart") && again.contains("store.kind, store.path"), "\(again)")
            let back = try await reload(Self.config(topic: "a/x"))
            #expect(!back.contains("after a restart"), "the running store is the file's again: \(back)")
        }
    }
}
