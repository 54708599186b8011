import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// `POST /publish`, the per-token stream cap, and the CLI's `token` and `subscribe`.
@Suite(.timeLimit(.minutes(2))) struct PublishAPITests {
    let client = HTTPClient.shared

    static let config = """
        store: { kind: sqlite, path: ./var/hookstream.db }
        auth:
          max_streams_per_token: 2
          tokens:
            - { name: backend, secret: { value: backend-token }, subscribe: ["users/**"], publish: ["users/**"] }
            - { name: reader, secret: { value: reader-token }, subscribe: ["users/**"] }
          jwt:
            keys: [{ alg: HS256, secret: { env: HOOKSTREAM_JWT_SECRET } }]
            subscribe: ["users/{sub}/**"]
        sources: { app: {} }
        rules: []
        """

    private func publish(_ daemon: Daemon, token: String, _ body: String) async throws -> (status: UInt, object: [String: Any]) {
        let response = try await client.send(
            .POST, "\(daemon.baseURL)/publish", body: body, headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")])
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]) ?? [:])
    }

    @Test func publishingNeedsAPublishGrantAndCountsTheStreamsReached() async throws {
        try await withDaemon(config: Self.config, environment: WebAppTests.environment) { daemon in
            let first = try await SSEStream.open("\(daemon.baseURL)/events?topic=users/42/**", headers: [("Authorization", "Bearer reader-token")])
            let alice = try await WebAppTests.token(sub: "42")
            let second = try await SSEStream.open("\(daemon.baseURL)/events?topic=users/42/alerts", headers: [("Authorization", "Bearer \(alice)")])
            try await waitUntil("both streams") { daemon.log.components(separatedBy: "Stream opened").count == 3 }
            let published = try await publish(daemon, token: "backend-token", #"{"topic":"users/42/alerts","event":"alert","data":{"n":1}}"#)
            #expect(published.status == 202)
            #expect(published.object["ids"] as? [Int] == [1])
            #expect(published.object["subscribers"] as? Int == 2, "handed to both open streams")
            #expect(try await first.collect { $0.count == 1 }.map(\.event) == ["alert"])
            #expect(try await second.collect { $0.count == 1 }.map(\.data) == [#"{"n":1}"#])
            let elsewhere = try await publish(daemon, token: "backend-token", #"{"topic":"users/43/alerts","data":"hi"}"#)
            #expect(elsewhere.object["subscribers"] as? Int == 0)
            // An idempotency key: the retry gets the first ids and publishes nothing.
            let once = try await publish(daemon, token: "backend-token", #"{"topic":"users/42/alerts","data":"x","id":"req-7"}"#)
            let again = try await publish(daemon, token: "backend-token", #"{"topic":"users/42/alerts","data":"x","id":"req-7"}"#)
            #expect(once.object["ids"] as? [Int] == [3])
            #expect(again.object["ids"] as? [Int] == [3] && again.object["duplicate"] as? Bool == true)
            // Bad input: one of the server's own event types (pages answer it by closing), and a type with a line break.
            let reserved = try await publish(daemon, token: "backend-token", #"{"topic":"users/42/alerts","event":"hookstream.reset","data":1}"#)
            #expect(reserved.status == 400 && reserved.object["error"] as? String == "invalid_event", "\(reserved.object)")
            #expect(try await publish(daemon, token: "backend-token", #"{"topic":"users/42/alerts","event":"a\nb","data":1}"#).status == 400)
            // Bad input: a token without a publish grant, a JWT (grants no publish), no topic, a wildcard topic, no data.
            #expect(try await publish(daemon, token: "reader-token", #"{"topic":"users/42/alerts","data":1}"#).status == 403)
            #expect(try await publish(daemon, token: alice, #"{"topic":"users/42/alerts","data":1}"#).status == 403)
            #expect(try await publish(daemon, token: "backend-token", #"{"data":1}"#).status == 400)
            #expect(try await publish(daemon, token: "backend-token", #"{"topic":"users/*","data":1}"#).status == 400)
            #expect(try await publish(daemon, token: "backend-token", #"{"topic":"users/42/x"}"#).status == 400)
            #expect(try await publish(daemon, token: "nope", #"{"topic":"users/42/x","data":1}"#).status == 401)
            #expect(try await client.send(.POST, "\(daemon.baseURL)/publish", body: "{}").status == 401)
        }
    }

    /// Bad input: requests that change something, made the way another site's page can make them with a visitor's
    /// cookie and no CORS preflight (a form, or a `text/plain` fetch): `415`, nothing published, no ticket issued.
    /// With `Content-Type: application/json` (which a browser sends cross-origin only after a preflight that
    /// `cors.origins` allows) the cookie is taken; a bearer token needs no such care.
    @Test func aCookieAloneChangesNothingWithoutAJSONBody() async throws {
        try await withDaemon(config: Self.config, environment: WebAppTests.environment) { daemon in
            let body = #"{"topic":"users/42/alerts","data":"forged"}"#
            for contentType in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
                let forged = try await client.send(
                    .POST, "\(daemon.baseURL)/publish", body: body,
                    headers: [("Cookie", "hookstream_token=backend-token"), ("Content-Type", contentType), ("Origin", "https://evil.example")])
                #expect(forged.status == 415, "\(contentType): \(forged.body)")
                #expect(forged.body.contains(#""error":"unsupported_media_type""#), "\(forged.body)")
                let ticket = try await client.send(
                    .POST, "\(daemon.baseURL)/tickets", body: #"{"topics":["users/42/alerts"]}"#,
                    headers: [("Cookie", "hookstream_token=backend-token"), ("Content-Type", contentType)])
                #expect(ticket.status == 415, "\(contentType): \(ticket.body)")
            }
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=users/42/alerts&lastEventId=0", headers: [("Authorization", "Bearer reader-token")])
            let json = try await client.send(
                .POST, "\(daemon.baseURL)/publish", body: #"{"topic":"users/42/alerts","data":"by cookie, as JSON"}"#,
                headers: [("Cookie", "hookstream_token=backend-token"), ("Content-Type", "application/json")])
            #expect(json.status == 202, "\(json.body)")
            #expect(try await publish(daemon, token: "backend-token", #"{"topic":"users/42/alerts","data":"by bearer"}"#).status == 202)
            // Nothing forged was stored: the stream, from the first id, has the two accepted events only.
            #expect(try await stream.collect { $0.count == 2 }.map(\.data) == ["by cookie, as JSON", "by bearer"])
        }
    }

    @Test func aTokenHoldsAtMostItsCapOfStreams() async throws {
        try await withDaemon(config: Self.config, environment: WebAppTests.environment) { daemon in
            let url = "\(daemon.baseURL)/events?topic=users/1/x&access_token=reader-token"
            let streams = try (0..<2).map { _ in try ChildProcess("/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "30", url]) }
            try await waitUntil("two streams") { streams.allSatisfy { $0.stdout.contains("stream open") } }
            let third = try await client.send(.GET, url)
            #expect(third.status == 429)
            #expect(third.body.contains("too_many_streams"))
            // Another token is counted apart.
            let other = try await SSEStream.open("\(daemon.baseURL)/events?topic=users/1/x", headers: [("Authorization", "Bearer backend-token")])
            #expect(other.response.status == .ok)
            // A closed stream frees its place.
            // SIGKILL: a child of the test process inherits its blocked SIGTERM.
            streams[0].signal(SIGKILL)
            _ = try await streams[0].waitForExit()
            try await waitUntil("the place to be free") { daemon.log.contains("Stream closed") }
            let again = try ChildProcess("/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "30", url])
            try await waitUntil("a stream in the freed place") { again.stdout.contains("stream open") }
            for process in [streams[1], again] { process.signal(SIGKILL) }
        }
    }

    /// Bad input: the token named by a variable that is not set, by a file that does not exist, and given two ways.
    @Test func theCLISaysWhereItsTokenIsMissing() async throws {
        let unset = try await ChildProcess.run(
            TestEnvironment.binary, ["subscribe", "http://127.0.0.1:1", "--token-env", "HOOKSTREAM_NOT_SET_ANYWHERE", "--topic", "a"])
        #expect(unset.status != 0)
        #expect(unset.stderr.contains("the environment variable HOOKSTREAM_NOT_SET_ANYWHERE is not set"), "\(unset.stderr)")
        let missing = try await ChildProcess.run(TestEnvironment.binary, ["subscribe", "http://127.0.0.1:1", "--token-file", "/nonexistent/token", "--topic", "a"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot read the token file /nonexistent/token"), "\(missing.stderr)")
        let twice = try await ChildProcess.run(
            TestEnvironment.binary, ["subscribe", "http://127.0.0.1:1", "--token", "t", "--token-file", "/nonexistent/token", "--topic", "a"])
        #expect(twice.status != 0)
        #expect(twice.stderr.contains("give the token one way"), "\(twice.stderr)")
        // Bad input: a token file of two lines, as an `.env` file is. Refused before any request, and neither line is
        // printed (AsyncHTTPClient's error for the header it makes would have quoted both).
        let file = try TestEnvironment.makeTemporaryDirectory().appendingPathComponent("token.env")
        try "TOKEN_LINE_one\nOTHER_SECRET=hunter2\n".write(to: file, atomically: true, encoding: .utf8)
        let lines = try await ChildProcess.run(TestEnvironment.binary, ["subscribe", "http://127.0.0.1:1", "--token-file", file.path, "--topic", "a"])
        #expect(lines.status != 0)
        #expect(lines.stderr.contains("the token file \(file.path) holds a line break or another control character"), "\(lines.stderr)")
        #expect(!lines.stderr.contains("hunter2") && !lines.stderr.contains("TOKEN_LINE_one"), "\(lines.stderr)")
    }

    /// Bad input: a server (not hookstream) whose stream says `retry: 9223372036854775807` and ends. The command
    /// waited that many milliseconds, for good; it waits 5 minutes at most.
    @Test func theCLIWaitsAtMostFiveMinutesWhateverRetryAServerSends() async throws {
        let server = try ChildProcess(TestEnvironment.python, ["-c", """
            import socket, sys
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(4)
            print(listener.getsockname()[1], flush=True)
            while True:
                connection, _ = listener.accept()
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: text/event-stream\\r\\nConnection: close\\r\\n\\r\\nretry: 9223372036854775807\\nid: 7\\ndata: x\\n\\n")
                connection.close()
            """])
        defer { server.signal(SIGKILL) }
        try await waitUntil("the server's port") { !server.stdoutLines.isEmpty }
        let subscriber = try ChildProcess(TestEnvironment.binary, ["subscribe", "http://127.0.0.1:\(server.stdoutLines[0])", "--topic", "a"])
        defer { subscriber.signal(SIGKILL) }
        try await waitUntil("the stream's end") { subscriber.stderr.contains("the stream ended") }
        #expect(subscriber.stderr.contains("the stream ended; reconnecting in 300000 ms after id 7"), "\(subscriber.stderr)")
        #expect(subscriber.stdout.contains("id: 7  event: message\nx\n"), "\(subscriber.stdout)")
    }

    @Test func theCLISubscribesAndReconnectsAfterARestartWithNothingLost() async throws {
        let first = try await Daemon.start(config: Self.config, environment: WebAppTests.environment)
        // The token from the environment, where other users cannot read it (a command line they can).
        let subscriber = try ChildProcess(
            TestEnvironment.binary, ["subscribe", first.baseURL, "--token-env", "READER_TOKEN", "--topic", "users/**", "--json", "--count", "3"],
            environment: ["READER_TOKEN": "reader-token"])
        do {
            try await waitUntil("the CLI's stream") { first.log.contains("Stream opened") }
            _ = try await publish(first, token: "backend-token", #"{"topic":"users/1/a","data":"one"}"#)
            try await waitUntil("the first event printed") { subscriber.stdoutLines.count == 1 }
            try await first.stop()
        } catch {
            _ = try? await first.stop()
            throw error
        }
        let second = try await Daemon.start(config: Self.config, directory: first.directory, port: first.port, environment: WebAppTests.environment)
        do {
            _ = try await publish(second, token: "backend-token", #"{"topic":"users/1/b","data":"two"}"#)
            _ = try await publish(second, token: "backend-token", #"{"topic":"users/1/c","event":"named","data":"three"}"#)
            #expect(try await subscriber.waitForExit(timeout: .seconds(30)) == 0, "\(subscriber.stderr)")
            let events = subscriber.stdoutLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
            #expect(events.map { $0["id"] } == ["1", "2", "3"])
            #expect(events.map { $0["event"] } == ["message", "message", "named"])
            // The daemon's shutdown told the stream when to come back (a random delay within streams.drain).
            #expect(subscriber.stderr.contains(/the stream ended; reconnecting in \d+ ms after id 1/), "\(subscriber.stderr)")
            try await second.stop()
        } catch {
            _ = try? await second.stop()
            throw error
        }
    }
}
