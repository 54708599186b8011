import AsyncHTTPClient
import Foundation
import Testing

/// A real browser's native `EventSource` (headless Chromium, `Tests/Clients/browser_client.py`) reading a stream:
/// the body without transfer coding, events with and without an `event:` line, multi-line data, `lastEventId`,
/// and the token in the query (the one credential a page can give `EventSource` without a polyfill).
@Suite(.timeLimit(.minutes(2))) struct BrowserTests {
    let client = HTTPClient.shared

    @Test func chromiumEventSourceReceivesNamedDefaultAndMultiLineEvents() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            throw HarnessError("chromium is not installed: run the suite with scripts/test, which installs it")
        }
        try await withDaemon { daemon in
            let browser = try ChildProcess(
                TestEnvironment.python,
                [TestEnvironment.client("browser_client.py"), daemon.baseURL,
                 "/events?topic=demo/**&topic=local/**&access_token=demo-token", "3", "message", "deploy"])
            try await waitUntil(timeout: .seconds(40), "Chromium's EventSource to open") {
                if !browser.isRunning && browser.stdoutLines.isEmpty { throw HarnessError("browser_client failed: \(browser.stderr)") }
                return browser.stdoutLines.first == #"{"open": true}"#
            }
            #expect(try await client.postWebhook(daemon, json: #"{"channel":"ops","type":"deploy","msg":"hi"}"#) == [1])
            let socket = try UnixSocketClient(path: daemon.socketPath)
            #expect(try socket.request(#"{"topic":"local/x","data":"first\nsecond línea 🚀"}"#) == #"{"ok":true,"ids":[2]}"#)
            #expect(try await client.postWebhook(daemon, json: #"{"channel":"ops"}"#) == [3])

            #expect(try await browser.waitForExit() == 0, "browser_client: \(browser.stderr)")
            let events = try browser.stdoutLines.dropFirst().map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: String] }
            #expect(events.map { $0["type"] } == ["deploy", "message", "message"])
            #expect(events.map { $0["lastEventId"] } == ["1", "2", "3"])
            #expect(events.map { $0["data"] } == [#"{"channel":"ops","type":"deploy","msg":"hi"}"#, "first\nsecond línea 🚀", #"{"channel":"ops"}"#])
        }
    }
}
