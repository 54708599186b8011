import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// `GET /console`, used in headless Chromium as a person would: token and topics typed in, events shown live.
@Suite(.timeLimit(.minutes(2))) struct ConsoleTests {
    let client = HTTPClient.shared

    @Test func theConsoleShowsEventsLiveWithIdTypeAndTime() async throws {
        try await withDaemon { daemon in
            let page = try await client.send(.GET, "\(daemon.baseURL)/console")
            #expect(page.status == 200)
            #expect(page.headers.first(name: "content-type") == "text/html; charset=utf-8")
            #expect(page.headers.first(name: "content-security-policy")?.contains("frame-ancestors 'none'") == true, "no other page frames it")
            #expect(!page.body.contains("http://") && !page.body.contains("https://"), "nothing loaded from elsewhere")
            let console = try ChildProcess(TestEnvironment.python, [TestEnvironment.client("console_check.py"), daemon.baseURL, "demo-token", "demo/**", "2"])
            try await waitUntil(timeout: .seconds(30), "the console's stream") { daemon.log.contains("Stream opened") || !console.isRunning }
            #expect(try await client.postWebhook(daemon, json: #"{"channel":"ops","type":"deploy","service":"api"}"#) == [1])
            #expect(try await client.postWebhook(daemon, json: #"{"channel":"ops"}"#) == [2])
            #expect(try await console.waitForExit() == 0, "\(console.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(console.stdoutLines.last!.utf8)) as? [String: Any])
            let rows = try #require(report["rows"] as? [[String]])
            let events = rows.filter { !$0[0].isEmpty }
            #expect(events.map { $0[0] } == ["2", "1"], "newest first, with their ids")
            #expect(events.map { $0[1] } == ["message", "deploy"], "and their types")
            #expect(events.allSatisfy { $0[2].contains(":") }, "and the time they arrived")
            #expect(events.last?[3].contains(#""service": "api""#) == true, "data shown as JSON")
            #expect(report["state"] as? String == "open")
            #expect(report["last"] as? String == "2")
        }
    }

    /// Connect clicked again while the stream is open: the page ends its stream and opens one, and the stream it ended
    /// does not come back by itself (it did: it counted a reconnect and opened a second stream, and every event after
    /// showed twice).
    @Test func connectClickedAgainLeavesOneStream() async throws {
        try await withDaemon { daemon in
            let console = try ChildProcess(TestEnvironment.python, [TestEnvironment.client("console_check.py"), daemon.baseURL, "demo-token", "demo/**", "2", "2"])
            try await waitUntil(timeout: .seconds(30), "the second stream, the first closed") {
                if !console.isRunning { throw HarnessError("console_check ended: \(console.stderr)") }
                return daemon.log.components(separatedBy: "Stream opened").count == 3 && daemon.log.contains("Stream closed")
            }
            #expect(try await client.postWebhook(daemon, json: #"{"channel":"ops"}"#) == [1])
            #expect(try await client.postWebhook(daemon, json: #"{"channel":"ops"}"#) == [2])
            #expect(try await console.waitForExit() == 0, "\(console.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(console.stdoutLines.last!.utf8)) as? [String: Any])
            #expect(report["reconnects"] as? String == "0", "\(report)")
            #expect(report["state"] as? String == "open")
            let rows = try #require(report["rows"] as? [[String]])
            #expect(rows.filter { !$0[0].isEmpty }.map { $0[0] } == ["2", "1"], "each event once")
        }
    }
}
