import AsyncHTTPClient
import NIOHTTP1
import Foundation
import Testing

/// A subscriber that stops reading is cut once its queue is full; a fast one meanwhile gets everything.
@Suite(.timeLimit(.minutes(3))) struct SlowSubscriberTests {
    let client = HTTPClient.shared

    @Test func aSubscriberThatReadsNothingIsCutWhileAFastOneGetsEverything() async throws {
        let config = """
            streams: { queue: 16 }
            server: { limits: { body_bytes: 256KiB } }
            auth:
              tokens: [{ name: t, secret: { value: tok }, subscribe: ["big/**"] }]
            sources: { big: {} }
            rules:
              - name: big
                source: big
                publish: { topic: "big/all", data: "{{ body }}" }
            """
        try await withDaemon(config: config) { daemon in
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
                return text.matches(of: /(?:^|\n)id: (\d+)\n/).map { Int($0.1)! }
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
}
