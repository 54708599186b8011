import Foundation
import Testing

/// The unit files in a real systemd: `systemd-nspawn` boots systemd as PID 1 over a throwaway overlay of this
/// host's root (`Tests/Systemd/nspawn.sh`), with the binary, the units and a config installed, and everything is
/// done as an operator would, with `systemctl`, `journalctl` and `curl` inside.
@Suite(.timeLimit(.minutes(4))) struct SystemdBootTests {
    /// The binary under test: `$HOOKSTREAM_SYSTEMD_BIN` when set (e.g. the static release build an operator installs),
    /// else the one the other tests use.
    static var binary: String {
        ProcessInfo.processInfo.environment["HOOKSTREAM_SYSTEMD_BIN"].flatMap { $0.isEmpty ? nil : $0 } ?? TestEnvironment.binary
    }

    static let config = """
        server:
          listen: 127.0.0.1:8080
          unix_socket: { path: /run/hookstream-ingest/ingest.sock }
        streams: { heartbeat: 2s }
        store: { kind: sqlite, path: "${STATE_DIRECTORY}/hookstream.db" }
        auth:
          tokens: [{ name: reader, secret: { credential: reader-token }, subscribe: ["**"] }]
        sources:
          app: { verify: { github: { secret: { credential: github-secret } } } }
          local: { unix_socket: true, allow_uids: [0], allow_gids: [4242] }
        rules:
          - { name: app-rule, source: app, publish: { topic: "deploys/api" } }
          - { name: local-rule, source: local, publish: { topic: "local/x" } }
        """

    /// A test's drop-in: the credentials, and a short watchdog so that a hang is seen quickly.
    static let dropIn = """
        [Service]
        LoadCredential=reader-token:/etc/hookstream/secrets/reader-token
        LoadCredential=github-secret:/etc/hookstream/secrets/github-secret
        WatchdogSec=3s
        RestartSec=1s
        """

    final class Container: Sendable {
        let directory: URL
        let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/Systemd/nspawn.sh").path

        init(binds: [String]) async throws {
            directory = try TestEnvironment.makeTemporaryDirectory().appendingPathComponent("container")
            let started = try await ChildProcess.run(script, [directory.path, "start"] + binds, timeout: .seconds(60))
            guard started.status == 0 else { throw HarnessError("the container did not boot: \(started.stdout) \(started.stderr)") }
        }

        /// Runs `command` inside; returns its status and output.
        @discardableResult
        func run(_ command: String...) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await ChildProcess.run(script, [directory.path, "exec"] + command, timeout: .seconds(60))
        }

        func stop() async {
            _ = try? await ChildProcess.run(script, [directory.path, "stop"], timeout: .seconds(30))
        }
    }

    @Test func theUnitsRunTheDaemonUnderARealSystemd() async throws {
        let host = try TestEnvironment.makeTemporaryDirectory()
        let etc = host.appendingPathComponent("etc")
        try FileManager.default.createDirectory(at: etc.appendingPathComponent("secrets"), withIntermediateDirectories: true)
        try Self.config.write(to: etc.appendingPathComponent("hookstream.yaml"), atomically: true, encoding: .utf8)
        try "reader-secret-123\n".write(to: etc.appendingPathComponent("secrets/reader-token"), atomically: true, encoding: .utf8)
        try "github-secret-456\n".write(to: etc.appendingPathComponent("secrets/github-secret"), atomically: true, encoding: .utf8)
        let dropIn = host.appendingPathComponent("hookstream.service.d")
        try FileManager.default.createDirectory(at: dropIn, withIntermediateDirectories: true)
        try Self.dropIn.write(to: dropIn.appendingPathComponent("test.conf"), atomically: true, encoding: .utf8)
        // The ingest socket's own advice: a group of local senders may write to it.
        let socketDropIn = host.appendingPathComponent("hookstream-ingest.socket.d")
        try FileManager.default.createDirectory(at: socketDropIn, withIntermediateDirectories: true)
        try "[Socket]\nSocketGroup=senders\n".write(to: socketDropIn.appendingPathComponent("test.conf"), atomically: true, encoding: .utf8)
        let units = TestEnvironment.packageRoot.appendingPathComponent("systemd")
        let container = try await Container(binds: [
            "--bind-ro=\(Self.binary):/usr/local/bin/hookstream",
            "--bind-ro=\(units.path)/hookstream.service:/etc/systemd/system/hookstream.service",
            "--bind-ro=\(units.path)/hookstream.socket:/etc/systemd/system/hookstream.socket",
            "--bind-ro=\(units.path)/hookstream-ingest.socket:/etc/systemd/system/hookstream-ingest.socket",
            "--bind-ro=\(dropIn.path):/etc/systemd/system/hookstream.service.d",
            "--bind-ro=\(socketDropIn.path):/etc/systemd/system/hookstream-ingest.socket.d",
            "--bind=\(etc.path):/etc/hookstream",
        ])
        do {
            try await scenario(container, etc: etc)
        } catch {
            let journal = try? await container.run("journalctl", "-u", "hookstream", "--no-pager", "-n", "60")
            await container.stop()
            throw HarnessError("\(error)\n--- journal ---\n\(journal?.stdout ?? "")")
        }
        await container.stop()
    }

    /// A property of the service; throws when `systemctl` could not answer (an `nsenter` into a busy container can
    /// fail), so that an empty answer is never taken for a value.
    private func show(_ container: Container, _ property: String) async throws -> String {
        let result = try await container.run("systemctl", "show", "hookstream.service", "-p", property, "--value")
        let value = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, !value.isEmpty else { throw HarnessError("systemctl show -p \(property) failed: \(result.stderr)") }
        return value
    }

    private func scenario(_ container: Container, etc: URL) async throws {
        // A local sender that is not root: in the group the socket unit names, whose gid the source allows.
        let added = try await container.run("sh", "-c", "groupadd -g 4242 senders && useradd -M -N -u 4243 -g senders sender")
        #expect(added.status == 0, "\(added.stderr)")
        // `check` as systemd/README.md says: without the unit's credentials it names what is missing; with them
        // (systemd-run, the same LoadCredential= lines) the config passes.
        let bare = try await container.run("/usr/local/bin/hookstream", "check", "--config", "/etc/hookstream/hookstream.yaml")
        #expect(bare.status != 0 && bare.stderr.contains("$CREDENTIALS_DIRECTORY is not set"), "\(bare.stdout) \(bare.stderr)")
        let checked = try await container.run(
            "systemd-run", "--pipe", "--wait", "--quiet", "-E", "STATE_DIRECTORY=/var/lib/hookstream",
            "-p", "LoadCredential=reader-token:/etc/hookstream/secrets/reader-token",
            "-p", "LoadCredential=github-secret:/etc/hookstream/secrets/github-secret",
            "/usr/local/bin/hookstream", "check", "--config", "/etc/hookstream/hookstream.yaml")
        #expect(checked.status == 0, "\(checked.stdout) \(checked.stderr)")

        // The sockets start the service on the first connection.
        #expect(try await container.run("systemctl", "start", "hookstream.socket", "hookstream-ingest.socket").status == 0)
        #expect(try await show(container, "ActiveState") == "inactive", "nothing runs before a connection")
        #expect(try await container.run("curl", "-sf", "http://127.0.0.1:8080/healthz").stdout.contains("ok"))
        try await waitUntil("the service to be active") { try await show(container, "ActiveState") == "active" }
        #expect(try await show(container, "StatusText").hasPrefix("serving "), "STATUS= reached systemd")
        let mainPID = try await show(container, "MainPID")
        let user = try await container.run("ps", "-o", "user=", "-p", mainPID).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(user == "hookstream", "a dynamic user")

        // A stream, through the activated HTTP socket; then a signed webhook and a socket line reach it.
        #expect(try await container.run(
            "systemd-run", "--unit=subscriber", "--quiet", "sh", "-c",
            #"curl -sN -H 'Authorization: Bearer reader-secret-123' 'http://127.0.0.1:8080/events?topic=**' > /tmp/stream.out"#).status == 0)
        try await waitUntil("the stream to open") { try await container.run("cat", "/tmp/stream.out").stdout.contains("stream open") }
        let body = #"{"deployment":"api"}"#
        let signature = "sha256=" + (try await hmacSHA256Hex(key: "github-secret-456", body))
        let accepted = try await container.run(
            "curl", "-s", "-X", "POST", "-H", "Content-Type: application/json", "-H", "X-Hub-Signature-256: \(signature)", "-H", "X-GitHub-Delivery: d-1",
            "--data", body, "http://127.0.0.1:8080/hooks/app")
        #expect(accepted.stdout.hasPrefix(#"{"ids":[1],"topics":["deploys/api"]}"#), "\(accepted.stdout) \(accepted.stderr)")
        let line = try await container.run(
            "python3", "-c", #"import socket; s=socket.socket(socket.AF_UNIX); s.connect("/run/hookstream-ingest/ingest.sock"); s.sendall(b"{}\n"); print(s.recv(999).decode())"#)
        #expect(line.stdout.hasPrefix(#"{"ok":true,"ids":[2]}"#), "\(line.stdout) \(line.stderr)")

        // systemctl reload after a rule edit: the open stream keeps streaming, under the new rule.
        let edited = Self.config.replacingOccurrences(of: #"topic: "deploys/api""#, with: #"topic: "deploys/web""#)
        try edited.write(to: etc.appendingPathComponent("hookstream.yaml"), atomically: true, encoding: .utf8)
        #expect(try await container.run("systemctl", "reload", "hookstream.service").status == 0)
        let second = try await container.run(
            "curl", "-s", "-X", "POST", "-H", "X-Hub-Signature-256: \(signature)", "-H", "X-GitHub-Delivery: d-2", "--data", body, "http://127.0.0.1:8080/hooks/app")
        #expect(second.stdout.hasPrefix(#"{"ids":[3],"topics":["deploys/web"]}"#), "\(second.stdout)")
        try await waitUntil("the third event on the stream opened before the reload") { try await container.run("cat", "/tmp/stream.out").stdout.contains("id: 3\n") }
        let stream = try await container.run("cat", "/tmp/stream.out").stdout
        #expect(stream.matches(of: /data:[^\n]*\nid: (\d+)\n/).map { String($0.1) } == ["1", "2", "3"])

        // The journal: an event's lines by its id, with the unit's fields.
        let lines = try await container.run("journalctl", "-u", "hookstream", "-o", "json", "--no-pager", "HOOKSTREAM_EVENT_ID=3")
        let entry = try #require(lines.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.first)
        #expect(entry["MESSAGE"] as? String == "Webhook accepted")
        #expect(entry["HOOKSTREAM_TOPIC"] as? String == "deploys/web")
        #expect(entry["_SYSTEMD_UNIT"] as? String == "hookstream.service")
        let all = try await container.run("journalctl", "-u", "hookstream", "-o", "json", "--no-pager").stdout
        #expect(all.contains("c2aa91775a8e4c6a869268badf6d5746"), "the reload has its MESSAGE_ID")
        #expect(!all.contains("reader-secret-123") && !all.contains("github-secret-456"), "no secret in the journal")

        // /metrics parses with Prometheus' own parser.
        let metrics = try await container.run("curl", "-sf", "http://127.0.0.1:8080/metrics").stdout
        let parsed = try await parsePrometheus(metrics)
        #expect(parsed["hookstream_events_published_total"] == 3)
        #expect(parsed["hookstream_streams_open"] == 1)
        #expect(parsed["hookstream_webhooks_total{source=app,status=202}"] == 2)
        #expect(parsed["hookstream_config_reloads_total{result=applied}"] == 1)
        // The writer applies the append log to SQLite behind the publishes, once a second: a commit follows them.
        try await waitUntil(timeout: .seconds(10), "a commit to SQLite in /metrics") {
            let text = try await container.run("curl", "-sf", "http://127.0.0.1:8080/metrics").stdout
            return text.split(separator: "\n").contains { line in
                line.hasPrefix("hookstream_store_commit_seconds_count ") && (line.split(separator: " ").last.flatMap { Double($0) } ?? 0) >= 1
            }
        }

        // The sender that is not root writes to the socket (the group the socket unit gave it) and is let in by its
        // gid, as the kernel tells the daemon: the unit must neither take the group away nor hide the sender's ids.
        let socketMode = try await container.run("stat", "-c", "%U:%G %a", "/run/hookstream-ingest/ingest.sock")
        #expect(socketMode.stdout.hasPrefix("root:senders 660"), "\(socketMode.stdout)")
        let sent = try await container.run(
            "setpriv", "--reuid=4243", "--regid=4242", "--init-groups", "/usr/bin/python3", "-c",
            #"import socket; s=socket.socket(socket.AF_UNIX); s.connect("/run/hookstream-ingest/ingest.sock"); s.sendall(b"{}\n"); print(s.recv(999).decode())"#)
        #expect(sent.stdout.hasPrefix(#"{"ok":true,"ids":[4]}"#), "\(sent.stdout) \(sent.stderr)")

        // A hung daemon (SIGSTOP) is killed by the watchdog and restarted, within WatchdogSec + RestartSec + 10 s.
        let hung = try await show(container, "MainPID")
        let start = ContinuousClock.now
        #expect(try await container.run("kill", "-STOP", hung).status == 0)
        try await waitUntil(timeout: .seconds(3 + 1 + 10), "the watchdog's restart") {
            // A failed look is "not yet": only a read MainPID of another process counts.
            guard let pid = try? await show(container, "MainPID"), let state = try? await show(container, "ActiveState") else { return false }
            return Int(pid) != nil && pid != hung && pid != "0" && state == "active"
        }
        let restartTook = ContinuousClock.now - start
        let journal = try await container.run("journalctl", "-u", "hookstream", "--no-pager").stdout
        #expect(journal.contains("Watchdog timeout"), "killed by the watchdog, not by something else")
        #expect(try await show(container, "NRestarts") == "1")

        // systemctl stop with an open stream ends within the stop timeout (and in practice at once).
        #expect(try await container.run(
            "systemd-run", "--unit=subscriber2", "--quiet", "sh", "-c",
            #"curl -sN -H 'Authorization: Bearer reader-secret-123' 'http://127.0.0.1:8080/events?topic=**' > /tmp/stream2.out"#).status == 0)
        try await waitUntil("the second stream") { try await container.run("cat", "/tmp/stream2.out").stdout.contains("stream open") }
        let stopStart = ContinuousClock.now
        #expect(try await container.run("systemctl", "stop", "hookstream.service").status == 0)
        let stopTook = ContinuousClock.now - stopStart
        #expect(stopTook < .seconds(15), "within TimeoutStopSec: \(stopTook)")
        #expect(try await show(container, "Result") == "success", "a clean exit, not a kill")
        try await waitUntil("the stream's drain retry") { try await container.run("cat", "/tmp/stream2.out").stdout.contains("\nretry: ") }
        print("systemd boot test: watchdog restart after \(restartTook), stop with an open stream took \(stopTook)")
    }

    /// Parses Prometheus text with `prometheus_client`'s parser (PyPI); returns `name{label=value,...}` -> value.
    private func parsePrometheus(_ text: String) async throws -> [String: Double] {
        let file = try TestEnvironment.makeTemporaryDirectory().appendingPathComponent("metrics.txt")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let script = #"""
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for sample in family.samples:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "le")
                    if "le" in sample.labels: continue
                    out[sample.name + ("{" + labels + "}" if labels else "")] = sample.value
            print(json.dumps(out))
            """#
        let result = try await ChildProcess.run(TestEnvironment.python, ["-c", script, file.path])
        guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Double] else {
            throw HarnessError("prometheus_client could not parse /metrics: \(result.stderr)\n\(text)")
        }
        return object
    }

    /// The HMAC-SHA256 of `message`, as hex, by Python's `hmac` (code nobody on the team wrote).
    private func hmacSHA256Hex(key: String, _ message: String) async throws -> String {
        let script = "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())"
        let result = try await ChildProcess.run(TestEnvironment.python, ["-c", script, key, message])
        guard result.status == 0 else { throw HarnessError("python's hmac failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
