import AsyncHTTPClient
import NIOHTTP1
import Foundation
import Testing

/// Resuming with Last-Event-ID (header, lastEventId, last_event_id), and the replay-to-live hand-off under load.
@Suite(.timeLimit(.minutes(3))) struct ResumeTests {
    let client = HTTPClient.shared

    private func publish(_ daemon: Daemon, count: Int, from: Int = 0) async throws {
        for i in from..<(from + count) {
            _ = try await client.postWebhook(daemon, json: #"{"channel":"c\#(i % 3)","n":\#(i)}"#)
        }
    }

    @Test func resumeByHeaderWithPython() async throws {
        try await withDaemon { daemon in
            try await publish(daemon, count: 5)
            guard FileManager.default.isExecutableFile(atPath: TestEnvironment.python) else {
                throw HarnessError("no Python with httpx-sse at \(TestEnvironment.python): run the suite with scripts/test")
            }
            let python = try ChildProcess(
                TestEnvironment.python,
                [TestEnvironment.client("sse_client.py"), "--url", "\(daemon.baseURL)/events?topic=demo/**", "--count", "4",
                 "--header", "Authorization: Bearer demo-token", "--header", "Last-Event-ID: 2"])
            try await waitUntil("the replay to reach python") { python.stdoutLines.filter { $0.hasPrefix(#"{"id""#) }.count >= 3 }
            _ = try await client.postWebhook(daemon, json: #"{"channel":"live"}"#)
            #expect(try await python.waitForExit() == 0)
            let ids = python.stdoutLines.filter { $0.hasPrefix(#"{"id""#) }.compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
            }
            #expect(ids == ["3", "4", "5", "6"])
            // Three replayed and one live, all counted as delivered (replays were left out).
            let metrics = try await client.send(.GET, "\(daemon.baseURL)/metrics").body
            #expect(metrics.contains("hookstream_events_delivered_total 4"), "\(metrics)")
        }
    }

    @Test func resumeByLastEventIdQueryWithCurl() async throws {
        try await withDaemon { daemon in
            try await publish(daemon, count: 4)
            let curl = try ChildProcess(
                "/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "20", "\(daemon.baseURL)/events?topic=demo/c1&lastEventId=1&access_token=demo-token"])
            // Of ids 1...4 (n = 0...3, channel c(n % 3)) only id 2 went to demo/c1; id 5 will too.
            try await waitUntil("the replay to reach curl") { curl.stdout.contains("id: 2\n") }
            _ = try await client.postWebhook(daemon, json: #"{"channel":"c1","n":99}"#)
            try await waitUntil("the live event to reach curl") { curl.stdout.contains("id: 5\n") }
            curl.signal(SIGTERM)
            let ids = curl.stdout.matches(of: /data:[^\n]*\nid: (\d+)\n/).map { Int($0.1)! }
            #expect(ids == [2, 5])
        }
    }

    /// Bad input: a `Last-Event-ID` beyond anything the store handed out (a memory store that restarted, a restored
    /// backup, another server's id). The stream tells the client (`hookstream.reset`, reason `unknown_id`) and gives
    /// it the store's last id, so that its next resume does not skip the events that get ids up to 500 here later.
    @Test func aResumePointBeyondTheStoreIsResetToTheStoresLastID() async throws {
        try await withDaemon { daemon in
            try await publish(daemon, count: 3)
            let curl = try ChildProcess(
                "/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "20", "-H", "Last-Event-ID: 500", "\(daemon.baseURL)/events?topic=demo/**&access_token=demo-token"])
            try await waitUntil("the reset to reach curl") { curl.stdout.contains("id: 3\n\n") }
            _ = try await client.postWebhook(daemon, json: #"{"channel":"c0","n":99}"#)
            try await waitUntil("the live event to reach curl") { curl.stdout.contains("id: 4\n") }
            curl.signal(SIGTERM)
            #expect(curl.stdout.contains(#"""
                event: hookstream.reset
                data: {"reason":"unknown_id","last_event_id":500,"oldest_id":null}

                id: 3


                """#), "\(curl.stdout)")
            let ids = curl.stdout.matches(of: /data:[^\n]*\nid: (\d+)\n/).map { Int($0.1)! }
            #expect(ids == [4], "only the live event, nothing replayed")
            #expect(daemon.log.contains("Resume point beyond the store's last event: sending hookstream.reset"))
        }
    }

    @Test func resumeByLastEventIdUnderscoreQueryWithAsyncHTTPClient() async throws {
        try await withDaemon { daemon in
            try await publish(daemon, count: 3)
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=demo/**&last_event_id=0", headers: [("Authorization", "Bearer demo-token")])
            let replayed = try await stream.collect { $0.count == 3 }
            #expect(replayed.map(\.id) == ["1", "2", "3"])
            _ = try await client.postWebhook(daemon, json: #"{"channel":"x"}"#)
            let live = try await stream.collect { $0.count == 1 }
            #expect(live.map(\.id) == ["4"])
        }
    }

    @Test func tenResumingSubscribersSeeEveryIdOnceInOrderWhile1000EventsArePublished() async throws {
        try await withDaemon { daemon in
            try await publish(daemon, count: 200)
            let total = 1000
            try await withThrowingTaskGroup(of: (EventID: Int, ids: [Int]).self) { group in
                for subscriber in 0..<10 {
                    let resumeAfter = subscriber * 20
                    group.addTask {
                        let stream = try await SSEStream.open(
                            "\(daemon.baseURL)/events?topic=demo/**", headers: [("Authorization", "Bearer demo-token"), ("Last-Event-ID", "\(resumeAfter)")])
                        let events = try await stream.collect(timeout: .seconds(90)) { $0.last?.id == "\(total)" }
                        return (resumeAfter, events.map { Int($0.id ?? "-1")! })
                    }
                }
                // Publish the other 800 from 4 concurrent senders while the subscribers replay.
                try await withThrowingTaskGroup(of: Void.self) { senders in
                    for sender in 0..<4 {
                        senders.addTask { try await publish(daemon, count: 200, from: 200 + sender * 200) }
                    }
                    try await senders.waitForAll()
                }
                var seen = 0
                for try await (resumeAfter, ids) in group {
                    #expect(ids == Array((resumeAfter + 1)...total), "subscriber after \(resumeAfter): \(ids.count) ids")
                    seen += 1
                }
                #expect(seen == 10)
            }
        }
    }
}
