import AsyncHTTPClient
import NIOHTTP1
import Foundation
import Testing

/// Webhooks and socket lines reaching subscribers, seen by curl and by a Python SSE client (httpx-sse).
@Suite(.timeLimit(.minutes(2))) struct StreamTests {
    let client = HTTPClient.shared

    /// Starts `curl -N` on a stream and waits until its greeting arrived (so it is subscribed).
    private func curlStream(_ url: String, _ extra: [String] = [], maxTime: Int = 20) async throws -> ChildProcess {
        let curl = try ChildProcess("/usr/bin/env", ["curl", "-sS", "-N", "-i", "--max-time", "\(maxTime)"] + extra + [url])
        try await waitUntil("curl to receive the stream greeting") { curl.stdout.contains(": hookstream stream open") }
        return curl
    }

    /// Starts the Python httpx-sse client and waits until it printed the response status.
    private func pythonStream(_ url: String, count: Int, headers: [String] = [], cookies: [String] = []) async throws -> ChildProcess {
        var arguments = [TestEnvironment.client("sse_client.py"), "--url", url, "--count", "\(count)", "--timeout", "30"]
        for header in headers { arguments += ["--header", header] }
        for cookie in cookies { arguments += ["--cookie", cookie] }
        guard FileManager.default.isExecutableFile(atPath: TestEnvironment.python) else {
            throw HarnessError("no Python with httpx-sse at \(TestEnvironment.python): run the suite with scripts/test")
        }
        let python = try ChildProcess(TestEnvironment.python, arguments)
        try await waitUntil("the Python client to connect") {
            if !python.isRunning && python.stdoutLines.isEmpty { throw HarnessError("python failed: \(python.stderr)") }
            return !python.stdoutLines.isEmpty
        }
        return python
    }

    private func jsonLines(_ process: ChildProcess) throws -> [[String: Any]] {
        try process.stdoutLines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    @Test func curlSeesHeadersGreetingAndTheWebhookEvent() async throws {
        try await withDaemon { daemon in
            let curl = try await curlStream("\(daemon.baseURL)/events?topic=demo/**", ["-H", "Authorization: Bearer demo-token"])
            // Before any event: status, the three headers, and the greeting (retry, the stream's starting point as its
            // id, and a comment), flushed at once.
            let head = curl.stdout
            #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(head.contains("Content-Type: text/event-stream\r\n"))
            #expect(head.contains("Cache-Control: no-cache\r\n"))
            #expect(head.contains("X-Accel-Buffering: no\r\n"))
            // No transfer coding: the body is the SSE text itself, and it ends when the connection closes.
            #expect(head.contains("Connection: close\r\n"))
            #expect(!head.lowercased().contains("transfer-encoding"))
            #expect(!head.lowercased().contains("content-length"))
            #expect(head.contains("\r\n\r\nretry: 3000\nid: 0\n: hookstream stream open\n\n"), "nothing published before it")

            let ids = try await client.postWebhook(daemon, json: #"{"channel":"ops","type":"deploy","msg":"hi"}"#)
            #expect(ids == [1])
            try await waitUntil("curl to receive the event") { curl.stdout.contains("data: {") }
            #expect(curl.stdout.contains("event: deploy\ndata: {\"channel\":\"ops\",\"type\":\"deploy\",\"msg\":\"hi\"}\nid: 1\n\n"))
            curl.signal(SIGTERM)
        }
    }

    @Test func pythonClientGetsMultiLineAndUnicodeDataIntactByCookieAndQueryToken() async throws {
        try await withDaemon { daemon in
            let byCookie = try await pythonStream("\(daemon.baseURL)/events?topic=local/**&topic=demo/*", count: 3, cookies: ["hookstream_token=demo-token"])
            let byQuery = try await pythonStream("\(daemon.baseURL)/events?topic=local/text&access_token=demo-token", count: 1)
            let socket = try UnixSocketClient(path: daemon.socketPath)
            let text = "first line\nsecond línea 🚀\r\nthird\rfourth"
            let line = #"{"topic":"local/text","event":"note","data":"first line\nsecond línea 🚀\r\nthird\rfourth"}"#
            #expect(try socket.request(line) == #"{"ok":true,"ids":[1]}"#)
            #expect(try socket.request(#"{"topic":"local/json","data":{"k":[1,2.50,"x"]}}"#) == #"{"ok":true,"ids":[2]}"#)
            _ = try await client.postWebhook(daemon, json: #"{"channel":"ünï","note":"a\nb"}"#)

            #expect(try await byCookie.waitForExit() == 0)
            #expect(try await byQuery.waitForExit() == 0)
            let cookieLines = try jsonLines(byCookie)
            #expect(cookieLines.first?["status"] as? Int == 200)
            let events = cookieLines.filter { $0["id"] != nil }
            #expect(cookieLines.contains { $0["retry"] as? Int == 3000 }, "the client saw retry: 3000")
            #expect(events.map { $0["id"] as? String } == ["1", "2", "3"])
            #expect(events.map { $0["event"] as? String } == ["note", "message", "message"])
            let data = events.map { $0["data"] as? String }
            // SSE normalises CR and CRLF to LF; everything else comes back exactly.
            #expect(data[0] == text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n"))
            #expect(data[1] == #"{"k":[1,2.50,"x"]}"#)
            #expect(data[2] == #"{"channel":"ünï","note":"a\nb"}"#)
            let queryLines = try jsonLines(byQuery)
            #expect(queryLines.filter { $0["id"] != nil }.map { $0["id"] as? String } == ["1"])
        }
    }

    @Test func unixSocketAnswersEveryLineAndStaysOpen() async throws {
        try await withDaemon { daemon in
            let socket = try UnixSocketClient(path: daemon.socketPath)
            #expect(try socket.request(#"{"topic":"local/a","event":"e","data":"x"}"#) == #"{"ok":true,"ids":[1]}"#)
            // Bad JSON.
            #expect(try socket.request("this is not json").hasPrefix(#"{"ok":false,"error":"bad JSON"#))
            // Missing topic.
            let missing = try socket.request(#"{"event":"e","data":1}"#)
            #expect(missing.hasPrefix(#"{"ok":false,"error":"rule 'local-socket': "#) && missing.contains("'topic' has no value"), "\(missing)")
            // A topic the default rule does not allow.
            let refused = try socket.request(#"{"topic":"demo/x","data":1}"#)
            #expect(refused.hasPrefix(#"{"ok":false,"error":"topic 'demo/x' not allowed"#))
            // Not an object; an invalid topic.
            #expect(try socket.request("[1,2]").hasPrefix(#"{"ok":false"#))
            #expect(try socket.request(#"{"topic":"local/a b","data":1}"#).hasPrefix(#"{"ok":false"#))
            // Still open, and nothing refused took an id.
            #expect(try socket.request(#"{"topic":"local/b","data":{"n":2}}"#) == #"{"ok":true,"ids":[2]}"#)
            // Several lines in one write are answered in order.
            try socket.send("{\"topic\":\"local/c\",\"data\":3}\n{\"topic\":\"local/c\",\"data\":4}\n")
            #expect(try socket.readLine() == #"{"ok":true,"ids":[3]}"#)
            #expect(try socket.readLine() == #"{"ok":true,"ids":[4]}"#)
        }
    }

    @Test func heartbeatsArriveOnTheConfiguredPeriod() async throws {
        let config = """
            streams: { heartbeat: 200ms, retry: 1500ms }
            auth:
              tokens: [{ name: t, secret: { value: tok }, subscribe: ["x/**"] }]
            """
        try await withDaemon(config: config) { daemon in
            let curl = try ChildProcess(
                "/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "30", "-H", "Authorization: Bearer tok", "\(daemon.baseURL)/events?topic=x/**"])
            defer { curl.killAll() }
            func beats() -> Int { curl.stdout.components(separatedBy: ": heartbeat\n\n").count - 1 }
            try await waitUntil("the stream to open") { curl.stdout.contains(": hookstream stream open\n\n") }
            #expect(curl.stdout.hasPrefix("retry: 1500\nid: 0\n: hookstream stream open\n\n"))
            // The period is the loop's, not the stream's: the first beat comes within 200 ms of the open, each next
            // one 200 ms after the one before. So five periods separate the first beat from the sixth.
            try await waitUntil("the first heartbeat") { beats() >= 1 }
            let first = ContinuousClock.now
            try await waitUntil("the sixth heartbeat") { beats() >= 6 }
            let elapsed = ContinuousClock.now - first
            #expect(elapsed >= .milliseconds(900) && elapsed <= .milliseconds(2500), "five heartbeat periods of 200 ms took \(elapsed)")
            #expect(!curl.stdout.contains("data:"), "nothing but comments on an idle stream")
        }
    }
}
