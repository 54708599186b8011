import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// Connections that keep the daemon waiting (`server.limits.request_timeout` and `idle_timeout`), against the real
/// binary with a Python client that holds a socket open in each way a slow, idle or hostile client does, and with the
/// PyPI `h2` package over TLS. Timeouts are 1 s and 2 s here; the daemon checks them once a second.
@Suite(.timeLimit(.minutes(3))) struct ConnectionTimeoutTests {
    static let limits = "limits: { request_timeout: 1s, idle_timeout: 2s }"

    static let config = """
        server:
          \(limits)
        store: { kind: memory }
        auth:
          tokens: [{ name: demo, secret: { value: demo-token }, subscribe: ["demo/**"] }]
        sources: { demo: {} }
        rules:
          - { name: demo, source: demo, publish: { topic: "demo/all", data: "{{ body }}" } }
        """

    struct Outcome: Decodable {
        var elapsed: Double
        var closed: Bool
        var status: Int?
        var body: String?
        var answers: Int
        var alpn: String?
        var goaway: Bool
        var stream: String?
        var stream_elapsed: Double?
    }

    static func client(_ port: Int, _ mode: String, _ extra: [String] = []) throws -> ChildProcess {
        try ChildProcess(TestEnvironment.python, [TestEnvironment.client("timeout_client.py"), String(port), mode] + extra)
    }

    static func outcome(of client: ChildProcess) async throws -> Outcome {
        #expect(try await client.waitForExit(timeout: .seconds(40)) == 0, "\(client.stderr)")
        let line = try #require(client.stdoutLines.last, "no result: \(client.stderr)")
        return try JSONDecoder().decode(Outcome.self, from: Data(line.utf8))
    }

    /// Bad input: a client that connects and sends nothing, and one that sends a request head one byte every 0.2 s
    /// and never ends it (slowloris). Before, both held their socket (and a file descriptor of the daemon's 20,000)
    /// for good; now each is closed within a second of the request timeout, trickle or not.
    @Test func aConnectionThatSendsNothingOrTricklesAHeadIsClosed() async throws {
        try await withDaemon(config: Self.config) { daemon in
            let silent = try Self.client(daemon.port, "silent")
            let trickle = try Self.client(daemon.port, "trickle")
            for (name, client) in [("silent", silent), ("trickle", trickle)] {
                let outcome = try await Self.outcome(of: client)
                #expect(outcome.closed, "\(name): \(outcome)")
                #expect(outcome.answers == 0, "\(name): closed without an answer")
                #expect(outcome.elapsed >= 0.9 && outcome.elapsed < 4, "\(name): closed after \(outcome.elapsed) s")
            }
            try await waitUntil("the log line") { daemon.log.contains("Connection closed: no request within server.limits.request_timeout") }
            #expect(try await HTTPClient.shared.send(.GET, "\(daemon.baseURL)/healthz").status == 200, "the daemon serves on")
        }
    }

    /// Bad input: a webhook whose body stops after 2 of its 100 bytes. It gets `408` with a JSON error naming the
    /// setting, and the connection closes; nothing is published.
    @Test func aRequestWhoseBodyStopsGets408() async throws {
        try await withDaemon(config: Self.config) { daemon in
            let outcome = try await Self.outcome(of: try Self.client(daemon.port, "partial-body"))
            #expect(outcome.status == 408, "\(outcome)")
            #expect(outcome.body?.contains(#""error":"request_timeout""#) == true, "\(outcome)")
            #expect(outcome.body?.contains("within 1s (server.limits.request_timeout)") == true, "\(outcome)")
            #expect(outcome.closed)
            #expect(outcome.elapsed >= 0.9 && outcome.elapsed < 4, "\(outcome.elapsed) s")
            try await waitUntil("the log line") { daemon.log.contains("Request timed out") }
            let stored = try await HTTPClient.shared.send(.POST, "\(daemon.baseURL)/hooks/demo", body: #"{"n":1}"#, headers: [("Content-Type", "application/json")])
            #expect(stored.body.contains(#""ids":[1]"#), "the cut request published nothing: \(stored.body)")
        }
    }

    /// A keep-alive connection left idle is closed after the idle timeout; one that keeps making requests, and an event
    /// stream (which reads nothing from its client after its request), outlive both timeouts several times over.
    @Test func idleConnectionsCloseWhileBusyOnesAndStreamsStay() async throws {
        try await withDaemon(config: Self.config) { daemon in
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=demo/all", headers: [("Authorization", "Bearer demo-token")])
            let busy = try Self.client(daemon.port, "active", ["--seconds", "6"])
            let idle = try await Self.outcome(of: try Self.client(daemon.port, "idle"))
            #expect(idle.status == 200 && idle.answers == 1, "\(idle)")
            #expect(idle.closed, "\(idle)")
            #expect(idle.elapsed >= 1.9 && idle.elapsed < 5, "closed after \(idle.elapsed) s")
            let active = try await Self.outcome(of: busy)
            #expect(!active.closed, "a connection with a request every 0.4 s stays open: \(active)")
            #expect(active.answers >= 10, "\(active)")
            // The stream has now been open for over 6 s, with nothing from its client since its request.
            let posted = try await HTTPClient.shared.send(.POST, "\(daemon.baseURL)/hooks/demo", body: #"{"n":1}"#, headers: [("Content-Type", "application/json")])
            #expect(posted.status == 202)
            let events = try await stream.collect(timeout: .seconds(10)) { $0.count == 1 }
            #expect(events.map(\.data) == [#"{"n":1}"#])
        }
    }

    /// Over TLS: a client that never starts its handshake, and an HTTP/2 connection that opens no stream, are closed;
    /// an HTTP/2 connection carrying an event stream stays and gets its event.
    @Test func tlsAndHTTP2ConnectionsThatWaitAreClosedButStreamsStay() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let config = """
            server:
              \(Self.limits)
              unix_socket: { path: ./run/hookstream.sock }
              tls:
                certificate: { file: \(certificates.chain) }
                key: { file: \(certificates.key) }
            store: { kind: memory }
            auth:
              tokens: [{ name: demo, secret: { value: demo-token }, subscribe: ["demo/**"] }]
            sources: { demo: {}, local: { unix_socket: true } }
            rules:
              - { name: local, source: local, publish: { topic: "demo/all", data: "{{ data }}" } }
            """
        let daemon = try await Daemon.start(config: config, directory: directory)
        let streams = try ChildProcess(TestEnvironment.python, [
            TestEnvironment.client("h2_streams.py"), "--port", String(daemon.port), "--cafile", certificates.ca, "--path", "/events?topic=demo/all",
            "--token", "demo-token", "--reading", "1", "--stalled", "0", "--expect", "1", "--timeout", "60",
        ])
        do {
            try await waitUntil(timeout: .seconds(20), "the h2 stream") {
                if !streams.isRunning { throw HarnessError("h2_streams ended: \(streams.stderr) \(streams.stdout)") }
                return streams.stdout.contains(#""ready": true"#)
            }
            // Bad input: TCP, then nothing (no ClientHello).
            let silent = try await Self.outcome(of: try Self.client(daemon.port, "silent", ["--cafile", certificates.ca]))
            #expect(silent.closed && silent.elapsed >= 0.9 && silent.elapsed < 4, "\(silent)")
            // Bad input: the HTTP/2 preface and SETTINGS, then no stream. Told GOAWAY, then closed.
            let h2 = try await Self.outcome(of: try Self.client(daemon.port, "h2-idle", ["--cafile", certificates.ca]))
            #expect(h2.alpn == "h2", "\(h2)")
            #expect(h2.closed && h2.goaway && h2.elapsed >= 0.9 && h2.elapsed < 4, "\(h2)")
            // Bad input: a webhook stream whose body never comes. It gets its 408 and is ended; the connection, left
            // with no stream, goes after the idle timeout.
            let stalled = try await Self.outcome(of: try Self.client(daemon.port, "h2-stalled-body", ["--cafile", certificates.ca]))
            #expect(stalled.status == 408 && stalled.body?.contains(#""error":"request_timeout""#) == true, "\(stalled)")
            #expect(stalled.stream != nil && (stalled.stream_elapsed ?? 99) < 4, "\(stalled)")
            #expect(stalled.closed && stalled.goaway && stalled.elapsed < 9, "\(stalled)")
            // Bad input: a client whose stream window stays shut, so the answer's body cannot go out. The stream is
            // reset after the idle timeout, then the connection goes too (before, both stayed for good).
            let shut = try await Self.outcome(of: try Self.client(daemon.port, "h2-no-window", ["--cafile", certificates.ca]))
            #expect(shut.status == 200 && shut.body == nil, "\(shut)")
            #expect(shut.stream == "reset" && (shut.stream_elapsed ?? 99) < 5, "\(shut)")
            #expect(shut.closed && shut.goaway && shut.elapsed < 9, "\(shut)")
            // All were closed by the timeouts' check; the event stream's connection, open since before, was not.
            let socket = try UnixSocketClient(path: daemon.socketPath)
            #expect(try socket.request(#"{"data":{"n":1}}"#).contains(#""ok":true"#))
            #expect(try await streams.waitForExit(timeout: .seconds(20)) == 0, "\(streams.stdout) \(streams.stderr)")
            #expect(streams.stdout.contains(#""reading": {"1": [1]}"#), "\(streams.stdout)")
            try await daemon.stop()
        } catch {
            streams.signal(SIGKILL)
            _ = try? await daemon.stop()
            throw error
        }
    }
}
