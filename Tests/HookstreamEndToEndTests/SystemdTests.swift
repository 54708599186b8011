import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// hookstream as systemd sees it, with systemd's own tools where they run without systemd as PID 1: the
/// notification protocol, socket activation by `systemd-socket-activate`, a real `systemd-journald`, and the unit
/// files checked by `systemd-analyze`. (A booted systemd runs the whole unit in `SystemdBootTests`.)
@Suite(.timeLimit(.minutes(3))) struct SystemdTests {
    let client = HTTPClient.shared

    static let config = """
        store: { kind: memory }
        server:
          unix_socket: { path: ./run/never-created.sock }
        auth: { tokens: [{ name: reader, secret: { value: reader-token }, subscribe: ["**"] }] }
        sources: { app: {}, local: { unix_socket: true } }
        rules:
          - { name: app-rule, source: app, publish: { topic: "app/{{ body.k | default: 'x' }}" } }
          - { name: local-rule, source: local, publish: { topic: "local/x" } }
        """

    /// A notification listener (the systemd side of `sd_notify`), reporting each message.
    struct NotifyListener {
        let process: ChildProcess

        init(address: String) async throws {
            process = try ChildProcess(TestEnvironment.python, [TestEnvironment.client("notify_listener.py"), address, "--seconds", "60"])
            try await waitUntil("the notify listener") { process.stdout.contains("listening") }
        }

        var messages: [(time: Double, fields: [String: String])] {
            process.stdoutLines.compactMap { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let fields = object["fields"] as? [String: String], let time = object["t"] as? Double
                else { return nil }
                return (time, fields)
            }
        }

        /// The messages without watchdog pings, as `KEY=value` lists.
        var states: [[String]] {
            messages.filter { $0.fields["WATCHDOG"] == nil }.map { message in message.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } }
        }
    }

    @Test func notificationsOnAPathSocketInOrderWithTheWatchdogAtItsPeriod() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let address = directory.appendingPathComponent("notify.sock").path
        let listener = try await NotifyListener(address: address)
        let daemon = try await Daemon.start(
            config: Self.config, directory: directory, environment: ["NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"])
        try await waitUntil("READY=1") { listener.messages.contains { $0.fields["READY"] == "1" } }
        try await waitUntil("five watchdog pings") { listener.messages.filter { $0.fields["WATCHDOG"] == "1" }.count >= 5 }
        let pings = listener.messages.filter { $0.fields["WATCHDOG"] == "1" }.map(\.time)
        let gaps = zip(pings, pings.dropFirst()).map { $1 - $0 }.sorted()
        let median = gaps[gaps.count / 2]
        #expect(median > 0.15 && median < 0.3, "pings every half of WATCHDOG_USEC (0.2 s): \(gaps)")
        // A stream open while reloading: the READY after the reload reports it.
        let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=app/**", headers: [("Authorization", "Bearer reader-token")])
        _ = stream
        #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [1])
        daemon.child.signal(SIGHUP)
        try await waitUntil("the reload's READY=1") { listener.messages.filter { $0.fields["READY"] == "1" }.count >= 2 }
        try await daemon.stop()
        try await waitUntil("STOPPING=1") { listener.messages.contains { $0.fields["STOPPING"] == "1" } }
        let states = listener.states
        let kinds = states.map { state -> String in
            if state.contains("READY=1") { return "READY" }
            if state.contains("RELOADING=1") { return "RELOADING" }
            if state.contains("STOPPING=1") { return "STOPPING" }
            return "STATUS"
        }
        #expect(kinds.filter { $0 != "STATUS" } == ["READY", "RELOADING", "READY", "STOPPING"], "\(states)")
        let reloading = try #require(listener.messages.first { $0.fields["RELOADING"] == "1" })
        let monotonic = try #require(reloading.fields["MONOTONIC_USEC"].flatMap(Double.init))
        #expect(abs(monotonic / 1_000_000 - reloading.time) < 2, "MONOTONIC_USEC is CLOCK_MONOTONIC now")
        let afterReload = try #require(listener.messages.filter { $0.fields["READY"] == "1" }.last)
        #expect(afterReload.fields["STATUS"] == "serving 1 stream, 1 events published since start", "\(afterReload.fields)")
        #expect(listener.messages.first?.fields["READY"] == "1", "nothing before READY=1")
    }

    @Test func anAbstractSocketAndAWatchdogMeantForAnotherProcess() async throws {
        let address = "@hookstream-test-\(UUID().uuidString.prefix(8))"
        let listener = try await NotifyListener(address: address)
        // WATCHDOG_PID names another process: the watchdog is not ours to feed.
        let daemon = try await Daemon.start(config: Self.config, environment: ["NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"])
        try await waitUntil("READY=1") { listener.messages.contains { $0.fields["READY"] == "1" } }
        #expect(try await client.postWebhook(daemon, source: "app", json: "{}") == [1])
        try await daemon.stop()
        try await waitUntil("STOPPING=1") { listener.messages.contains { $0.fields["STOPPING"] == "1" } }
        #expect(!listener.messages.contains { $0.fields["WATCHDOG"] != nil })
        #expect(!daemon.log.contains("systemd watchdog armed"))
    }

    @Test func socketActivationBySystemdSocketActivate() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        try Self.config.write(to: directory.appendingPathComponent("hookstream.yaml"), atomically: true, encoding: .utf8)
        let ingest = directory.appendingPathComponent("ingest.sock").path
        let port = try freePort()
        let activator = try ChildProcess(
            "/usr/bin/env",
            ["systemd-socket-activate", "-l", "127.0.0.1:\(port)", "-l", ingest, "--fdname=http:ingest",
             TestEnvironment.binary, "serve", "--config", directory.appendingPathComponent("hookstream.yaml").path],
            directory: directory)
        try await waitUntil("the sockets") { activator.stderr.contains("as 4.") }
        // The first connection starts the daemon, on the sockets systemd-socket-activate bound.
        let health = try await client.send(.GET, "http://127.0.0.1:\(port)/healthz")
        #expect(health.status == 200)
        // The passed socket keeps a backlog of 4096 (NIO listened again on it with 128); `ss` shows it as Send-Q. Its
        // output is read as it comes: Foundation's Process here does not see the exit of a child started after the
        // activator's.
        let ss = try ChildProcess("/usr/bin/env", ["ss", "-ltnH", "sport = :\(port)"])
        try await waitUntil("ss to list the socket") { ss.stdout.hasSuffix("\n") }
        let columns = ss.stdout.split(whereSeparator: \.isWhitespace)
        #expect(columns.count >= 3 && columns[2] == "4096", "\(ss.stdout)")
        let stream = try await SSEStream.open("http://127.0.0.1:\(port)/events?topic=**", headers: [("Authorization", "Bearer reader-token")])
        let socket = try UnixSocketClient(path: ingest)
        #expect(try socket.request("{}") == #"{"ok":true,"ids":[1]}"#)
        let response = try await client.send(.POST, "http://127.0.0.1:\(port)/hooks/app", body: #"{"k":"y"}"#, headers: [("Content-Type", "application/json")])
        #expect(response.body == #"{"ids":[2],"topics":["app/y"]}"# + "\n")
        #expect(try await stream.collect { $0.count == 2 }.map(\.id) == ["1", "2"])
        #expect(activator.stderr.contains("names=http,ingest"))
        #expect(activator.stderr.contains("socket=inherited"))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("run/never-created.sock").path), "the configured socket is not bound")
        activator.signal(SIGTERM)
        #expect(try await activator.waitForExit() == 0)
    }

    @Test func theUnitFilesPassSystemdAnalyze() async throws {
        // `verify` needs ExecStart to exist: check copies that point at the built binary.
        let directory = try TestEnvironment.makeTemporaryDirectory()
        for unit in ["hookstream.service", "hookstream.socket", "hookstream-ingest.socket"] {
            var text = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("systemd/\(unit)"), encoding: .utf8)
            text = text.replacingOccurrences(of: "/usr/local/bin/hookstream", with: TestEnvironment.binary)
            try text.write(to: directory.appendingPathComponent(unit), atomically: true, encoding: .utf8)
        }
        let units = ["hookstream.socket", "hookstream-ingest.socket", "hookstream.service"].map { directory.appendingPathComponent($0).path }
        let verify = try await ChildProcess.run("/usr/bin/env", ["systemd-analyze", "verify", "--man=no"] + units)
        #expect(verify.status == 0)
        #expect(verify.stdout.isEmpty && verify.stderr.isEmpty, "verify prints nothing (it exits 0 on unknown keys): \(verify.stdout)\(verify.stderr)")
        let security = try await ChildProcess.run("/usr/bin/env", ["systemd-analyze", "security", "--offline=true", units[2]])
        let exposure = try #require(
            security.stdout.firstMatch(of: /Overall exposure level for hookstream\.service: (\d+\.\d+)/).flatMap { Double($0.1) },
            "systemd-analyze security exited \(security.status): \(security.stdout.suffix(400))\(security.stderr.suffix(400))")
        #expect(exposure <= 2.0, "exposure \(exposure)")
    }
}
