import AsyncHTTPClient
import Foundation
import Testing

/// A real browser's native `EventSource` (headless Chromium, `Tests/Clients/browser_client.py`) reading a stream:
/// the body without transfer coding, events with and without an `event:` line, multi-line data, `lastEventId`,
/// the token in the query (the one credential a page can give `EventSource` without a polyfill), and the
/// browser's own reconnect with `Last-Event-ID` after a restart.
@Suite(.timeLimit(.minutes(2))) struct BrowserTests {
    let client = HTTPClient.shared

    private func openBrowser(_ daemon: Daemon, count: Int) async throws -> ChildProcess {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            throw HarnessError("chromium is not installed: run the suite with scripts/test, which installs it")
        }
        let browser = try ChildProcess(
            TestEnvironment.python,
            [TestEnvironment.client("browser_client.py"), daemon.baseURL,
             "/events?topic=demo/**&topic=local/**&access_token=demo-token", "\(count)", "message", "deploy"])
        try await waitUntil(timeout: .seconds(45), "Chromium's EventSource to open") {
            if !browser.isRunning && browser.stdoutLines.isEmpty { throw HarnessError("browser_client failed: \(browser.stderr)") }
            return browser.stdoutLines.first == #"{"open": true}"#
        }
        return browser
    }

    private func received(_ browser: ChildProcess) throws -> (events: [[String: String]], opens: Int) {
        let lines = try browser.stdoutLines.dropFirst().map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let events = lines.compactMap { $0["type"] != nil ? $0 as? [String: String] : nil }
        return (events, lines.last?["opens"] as? Int ?? 0)
    }

    @Test func chromiumEventSourceReceivesNamedDefaultAndMultiLineEvents() async throws {
        try await withDaemon { daemon in
            let browser = try await openBrowser(daemon, count: 3)
            #expect(try await client.postWebhook(daemon, json: #"{"channel":"ops","type":"deploy","msg":"hi"}"#) == [1])
            let socket = try UnixSocketClient(path: daemon.socketPath)
            #expect(try socket.request(#"{"topic":"local/x","data":"first\nsecond línea 🚀"}"#) == #"{"ok":true,"ids":[2]}"#)
            #expect(try await client.postWebhook(daemon, json: #"{"channel":"ops"}"#) == [3])

            #expect(try await browser.waitForExit() == 0, "browser_client: \(browser.stderr)")
            let (events, opens) = try received(browser)
            #expect(events.map { $0["type"] } == ["deploy", "message", "message"])
            #expect(events.map { $0["lastEventId"] } == ["1", "2", "3"])
            #expect(events.map { $0["data"] } == [#"{"channel":"ops","type":"deploy","msg":"hi"}"#, "first\nsecond línea 🚀", #"{"channel":"ops"}"#])
            #expect(opens == 1)
        }
    }

    @Test func chromiumReconnectsByItselfAndResumesWithNothingLostOrRepeated() async throws {
        let first = try await Daemon.start()
        let browser: ChildProcess
        do {
            browser = try await openBrowser(first, count: 3)
            #expect(try await client.postWebhook(first, json: #"{"channel":"a","n":1}"#) == [1])
            try await waitUntil("the first event to be stored and sent") { first.log.contains("Webhook accepted") }
        } catch {
            _ = try? await first.stop()
            throw error
        }
        // The restart ends the stream; the browser retries on its own (retry: 3000) until the daemon is back.
        try await first.stop()
        let second = try await Daemon.start(directory: first.directory, port: first.port)
        do {
            // Published while the browser is away: it must come from the store, by Last-Event-ID.
            #expect(try await client.postWebhook(second, json: #"{"channel":"a","n":2}"#) == [2])
            try await waitUntil(timeout: .seconds(20), "the browser to resume") { second.log.contains("Stream opened") }
            #expect(try await client.postWebhook(second, json: #"{"channel":"a","n":3}"#) == [3])
            #expect(try await browser.waitForExit() == 0, "browser_client: \(browser.stderr)")
            let (events, opens) = try received(browser)
            #expect(events.map { $0["lastEventId"] } == ["1", "2", "3"])
            #expect(events.map { $0["data"] } == [#"{"channel":"a","n":1}"#, #"{"channel":"a","n":2}"#, #"{"channel":"a","n":3}"#])
            #expect(opens == 2, "the browser reconnected once")
            #expect(second.log.contains("hookstream.last_event_id=1"), "it resumed after id 1")
            try await second.stop()
        } catch {
            _ = try? await second.stop()
            throw error
        }
    }
}
