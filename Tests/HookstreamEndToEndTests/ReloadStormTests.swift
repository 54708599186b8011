import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1
import Testing

/// The reload contract under load: 100 reloads, valid and invalid mixed, while 100 subscribers stream and 4
/// senders post. No stream may drop, and every acknowledged event must reach every stream once, in order.
@Suite(.timeLimit(.minutes(5))) struct ReloadStormTests {
    let client = HTTPClient.shared

    static func valid(_ i: Int) -> String {
        """
        store: { kind: sqlite, path: ./var/hookstream.db }
        streams: { heartbeat: \(i % 2 == 0 ? "50ms" : "10s") }
        server: { limits: { body_bytes: \(64 + i)KiB } }
        auth:
          tokens:
            - { name: reader, secret: { value: storm-token }, subscribe: ["storm/**"] }
            - { name: extra-\(i), secret: { value: extra-token-\(i) }, subscribe: ["storm/\(i)"] }
        sources:
          app: \(i % 3 == 0 ? "{ dedupe: { header: X-Request-Id, window: 1h } }" : "{}")
        rules:
          - name: audit-\(i)
            source: app
            when: { header.x-audit: { exists: true } }
            continue: true
            publish: { topic: "audit/\(i)" }
          - name: storm
            source: app
            when: { body.sender: { regex: "^s[0-9]+$" } }
            publish: { topic: "storm/{{ body.sender }}", event: "e\(i)", data: { n: "{{ body.n }}", reload: \(i) } }
        """
    }

    /// Bad input, one kind per reload: YAML syntax, an unknown key, a bad regex, an undeclared source, a bad template.
    static func invalid(_ i: Int) -> String {
        switch i % 5 {
        case 0: return valid(i) + "\n  - [unclosed\n"
        case 1: return valid(i).replacingOccurrences(of: "streams:", with: "stream:")
        case 2: return valid(i).replacingOccurrences(of: #"regex: "^s[0-9]+$""#, with: #"regex: "(""#)
        case 3: return valid(i).replacingOccurrences(of: "source: app\n    when: { body.sender", with: "source: nowhere\n    when: { body.sender")
        default: return valid(i).replacingOccurrences(of: "{{ body.sender }}", with: "{{ body.sender | shout }}")
        }
    }

    @Test func aHundredReloadsWhileAHundredStreamsAndFourSendersRun() async throws {
        let daemon = try await Daemon.start(config: Self.valid(0))
        do {
            let path = daemon.directory.appendingPathComponent("hookstream.yaml")
            var streams: [SSEStream] = []
            for _ in 0..<100 {
                streams.append(try await SSEStream.open("\(daemon.baseURL)/events?topic=storm/**", headers: [("Authorization", "Bearer storm-token")]))
            }
            let acknowledged = NIOLockedValueBox<[Int]>([])
            let perSender = 75
            try await withThrowingTaskGroup(of: Void.self) { group in
                for sender in 0..<4 {
                    group.addTask {
                        for n in 0..<perSender {
                            let ids = try await client.postWebhook(daemon, source: "app", json: #"{"sender":"s\#(sender)","n":\#(n)}"#)
                            #expect(ids.count == 1, "sender \(sender), message \(n)")
                            acknowledged.withLockedValue { $0 += ids }
                        }
                    }
                }
                group.addTask {
                    for i in 1...100 {
                        let before = daemon.log.components(separatedBy: "config re").count
                        try (i % 2 == 0 ? Self.valid(i) : Self.invalid(i)).write(to: path, atomically: true, encoding: .utf8)
                        daemon.child.signal(SIGHUP)
                        try await waitUntil("reload \(i)") { daemon.log.components(separatedBy: "config re").count > before }
                    }
                }
                try await group.waitForAll()
            }
            let ids = acknowledged.withLockedValue { $0 }.sorted()
            #expect(ids.count == 4 * perSender)
            #expect(ids == Array(1...(4 * perSender)), "ids are handed out without gaps")
            let log = daemon.log
            #expect(log.components(separatedBy: "config reloaded").count - 1 >= 50, "every valid file was applied")
            #expect(log.components(separatedBy: "config rejected").count - 1 >= 50, "every invalid file was rejected")
            // Every stream is still open and has every acknowledged event exactly once, in order.
            let expected = ids.map(String.init)
            try await withThrowingTaskGroup(of: [String].self) { group in
                for stream in streams {
                    group.addTask { try await stream.collect(timeout: .seconds(60)) { $0.count >= expected.count }.compactMap(\.id) }
                }
                for try await received in group { #expect(received == expected) }
            }
            // And each still receives: one more event reaches all hundred.
            let last = try await client.postWebhook(daemon, source: "app", json: #"{"sender":"s9","n":0}"#)
            try await withThrowingTaskGroup(of: String?.self) { group in
                for stream in streams { group.addTask { try await stream.collect { $0.count == 1 }.first?.id } }
                for try await id in group { #expect(id == String(last[0])) }
            }
            #expect(!log.contains("Stream closed"), "no stream was dropped")
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }
}
