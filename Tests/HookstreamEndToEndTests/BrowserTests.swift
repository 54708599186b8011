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
        try await waitUntil(timeout: .seconds(90), "Chromium's EventSource to open") {
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

    /// A stream that has had no event when the daemon restarts: its greeting's `id:` (the last event published
    /// before it, 2 here) is the browser's `Last-Event-ID` on its own reconnect, so the event published while it was
    /// away comes from the store. (Before, such a page reconnected with no id and missed it.)
    @Test func chromiumResumesAStreamThatHadNoEventYetFromWhereItStarted() async throws {
        let first = try await Daemon.start()
        let browser: ChildProcess
        do {
            #expect(try await client.postWebhook(first, json: #"{"channel":"a","n":1}"#) == [1])
            #expect(try await client.postWebhook(first, json: #"{"channel":"a","n":2}"#) == [2])
            browser = try await openBrowser(first, count: 2)
        } catch {
            _ = try? await first.stop()
            throw error
        }
        let (events, opens, second) = try await restartAndResume(first, browser, publishing: [3, 4])
        #expect(events.map { $0["lastEventId"] } == ["3", "4"], "the events before the stream are not sent, the one while away is")
        #expect(opens == 2, "the browser reconnected once")
        #expect(second.log.contains("hookstream.last_event_id=2"), "it resumed after id 2, where it started")
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
        let (events, opens, second) = try await restartAndResume(first, browser, publishing: [2, 3])
        #expect(events.map { $0["lastEventId"] } == ["1", "2", "3"])
        #expect(events.map { $0["data"] } == [#"{"channel":"a","n":1}"#, #"{"channel":"a","n":2}"#, #"{"channel":"a","n":3}"#])
        #expect(opens == 2, "the browser reconnected once")
        #expect(second.log.contains("hookstream.last_event_id=1"), "it resumed after id 1")
    }

    /// Restarts `first` on its port and store: the restart ends the browser's stream, and the browser retries on its
    /// own (`retry: 3000`) until the daemon is back. The first of `publishing` is published while it is away (it
    /// must come from the store, by `Last-Event-ID`), the rest once it is back. Returns what the browser got, and the
    /// second daemon (stopped).
    private func restartAndResume(_ first: Daemon, _ browser: ChildProcess, publishing numbers: [Int]) async throws -> (events: [[String: String]], opens: Int, second: Daemon) {
        try await first.stop()
        let second = try await Daemon.start(directory: first.directory, port: first.port)
        do {
            for (index, n) in numbers.enumerated() {
                #expect(try await client.postWebhook(second, json: #"{"channel":"a","n":\#(n)}"#) == [n])
                if index == 0 { try await waitUntil(timeout: .seconds(20), "the browser to resume") { second.log.contains("Stream opened") } }
            }
            #expect(try await browser.waitForExit() == 0, "browser_client: \(browser.stderr)")
            let (events, opens) = try received(browser)
            try await second.stop()
            return (events, opens, second)
        } catch {
            browser.signal(SIGKILL)
            _ = try? await second.stop()
            throw error
        }
    }
}
