import AsyncHTTPClient
import Foundation
import HookstreamSystemd
import Logging
import NIOHTTP1
import Testing

/// Logging to a real `systemd-journald` (its own mount and PID namespace, started by the test) and reading it back
/// with `journalctl -o json`: structured fields, MESSAGE_IDs, the native protocol chosen when standard error is the
/// journal, large entries through a memfd, and no secret in any field.
@Suite(.timeLimit(.minutes(2))) struct JournalTests {
    let client = HTTPClient.shared

    /// A private journald for one test.
    final class PrivateJournald: Sendable {
        let process: ChildProcess
        let root: String

        init() async throws {
            let process = try ChildProcess(TestEnvironment.packageRoot.appendingPathComponent("Tests/Systemd/private_journald.sh").path, [])
            self.process = process
            try await waitUntil("journald") { process.stdout.contains("ready") || !process.isRunning }
            guard process.isRunning else { throw HarnessError("private journald did not start: \(process.stderr)") }
            // The namespace's init is unshare's child; its root is the private /run's view.
            let children = try await ChildProcess.run("/usr/bin/env", ["pgrep", "-P", String(process.pid)])
            guard let initPID = children.stdout.split(separator: "\n").first else { throw HarnessError("no init in the namespace") }
            root = "/proc/\(initPID)/root"
        }

        var socket: String { "\(root)/run/systemd/journal/socket" }

        /// Every entry, or those matching `filters` (`FIELD=value`), as JSON objects.
        func entries(_ filters: [String] = []) async throws -> [[String: Any]] {
            let result = try await ChildProcess.run(
                "/usr/bin/env", ["journalctl", "-D", "\(root)/run/log/journal", "-o", "json", "--no-pager"] + filters)
            return result.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }

        func stop() {
            process.killAll()
        }
    }

    @Test func structuredEntriesReadBackWithJournalctl() async throws {
        let journal = try await PrivateJournald()
        defer { journal.stop() }
        let config = SystemdTests.config.replacingOccurrences(of: "reader-token", with: "super-secret-token-xyz")
            .replacingOccurrences(of: #"subscribe: ["**"]"#, with: #"subscribe: ["app/**"]"#)
        let daemon = try await Daemon.start(
            config: config, arguments: ["--log-format", "journal"], environment: ["HOOKSTREAM_JOURNAL_SOCKET": journal.socket])
        do {
            try await waitUntil("the start in the journal") {
                try await !journal.entries(["MESSAGE_ID=5780baed8803483188fcf81e633bc8a1"]).isEmpty
            }
            #expect(try await client.postWebhook(daemon, source: "app", json: #"{"k":"api"}"#) == [1])
            // Bad input: a token that is not valid, and a wrong one in the query: neither may reach the journal.
            _ = try await client.send(.GET, "\(daemon.baseURL)/events?topic=app/x&access_token=not-the-secret-abc")
            _ = try await client.send(.GET, "\(daemon.baseURL)/events?topic=other/x", headers: [("Authorization", "Bearer super-secret-token-xyz")])
            // A rejected config (its problems, then the summary), then a valid reload.
            let path = daemon.directory.appendingPathComponent("hookstream.yaml")
            try "rules: [ { name: x } ]\n".write(to: path, atomically: true, encoding: .utf8)
            daemon.child.signal(SIGHUP)
            try await waitUntil("config rejected") { try await !journal.entries(["MESSAGE_ID=f1d5b45a295a4f4199f7f92727eded53"]).isEmpty }
            try config.write(to: path, atomically: true, encoding: .utf8)
            daemon.child.signal(SIGHUP)
            try await waitUntil("config reloaded") { try await !journal.entries(["MESSAGE_ID=c2aa91775a8e4c6a869268badf6d5746"]).isEmpty }
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
        // An event's lines, found by its id as an operator would: journalctl HOOKSTREAM_EVENT_ID=1.
        let accepted = try #require(try await journal.entries(["HOOKSTREAM_EVENT_ID=1"]).first)
        #expect(accepted["MESSAGE"] as? String == "Webhook accepted")
        #expect(accepted["HOOKSTREAM_TOPIC"] as? String == "app/api")
        #expect(accepted["HOOKSTREAM_RULE"] as? String == "app-rule")
        #expect(accepted["HOOKSTREAM_SOURCE"] as? String == "app")
        #expect(accepted["PRIORITY"] as? String == "6")
        #expect(accepted["SYSLOG_IDENTIFIER"] as? String == "hookstream")
        #expect((accepted["CODE_FILE"] as? String)?.hasSuffix("Publisher.swift") == true)
        #expect(Int(accepted["CODE_LINE"] as? String ?? "") != nil)
        #expect((accepted["CODE_FUNC"] as? String)?.isEmpty == false)
        #expect(accepted["_TRANSPORT"] as? String == "journal")
        let rejected = try await journal.entries(["SYSLOG_IDENTIFIER=hookstream", "PRIORITY=3"]).compactMap { $0["MESSAGE"] as? String }
        #expect(rejected.contains { $0.contains("hookstream.yaml:1:") && $0.contains(": error: ") }, "each problem as FILE:LINE:COLUMN: error: message: \(rejected)")
        let everything = try await journal.entries(["SYSLOG_IDENTIFIER=hookstream"])
        #expect(everything.count > 5)
        let text = String(decoding: try JSONSerialization.data(withJSONObject: everything), as: UTF8.self)
        #expect(!text.contains("super-secret-token-xyz"), "no secret in any field")
        #expect(!text.contains("not-the-secret-abc"), "nor a presented token")
    }

    @Test func theJournalIsChosenWhenStandardErrorIsTheJournalAndLargeEntriesGoThroughAMemfd() async throws {
        let journal = try await PrivateJournald()
        defer { journal.stop() }
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let configPath = directory.appendingPathComponent("hookstream.yaml").path
        try SystemdTests.config.write(toFile: configPath, atomically: true, encoding: .utf8)
        // As systemd does: JOURNAL_STREAM names the device and inode of the daemon's standard error.
        let daemon = try ChildProcess(
            "/bin/bash",
            ["-c", #"export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); exec "$0" serve --config "$1" --listen 127.0.0.1:0"#,
             TestEnvironment.binary, configPath],
            environment: ["HOOKSTREAM_JOURNAL_SOCKET": journal.socket], directory: directory)
        // journald cannot see this process's pid from its own namespace: find the lines by the config's path.
        try await waitUntil("its start in the journal") { try await !journal.entries(["HOOKSTREAM_CONFIG=\(configPath)"]).isEmpty }
        try await waitUntil("it to be ready") { try await !journal.entries(["MESSAGE_ID=5780baed8803483188fcf81e633bc8a1"]).isEmpty }
        #expect(!daemon.stderr.contains("hookstream start"), "nothing went to standard error: \(daemon.stderr)")
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        let starting = try await journal.entries(["HOOKSTREAM_CONFIG=\(configPath)"]).first
        #expect(starting?["MESSAGE"] as? String == "hookstream starting")
        #expect(starting?["HOOKSTREAM_LOG_FORMAT"] as? String == "journal")

        // An entry larger than a datagram can carry goes as a sealed memfd (the protocol's way for large entries).
        guard let socket = JournalSocket(path: journal.socket) else { throw HarnessError("cannot open the journal socket") }
        let logger = Logger(label: "test") { JournalLogHandler(label: $0, journal: socket, identifier: "hookstream-test") }
        let large = String(repeating: "0123456789abcdef", count: 65_536)  // 1 MiB
        logger.info("\(large)", metadata: ["hookstream.test": "memfd"])
        try await waitUntil("the large entry") { try await !journal.entries(["HOOKSTREAM_TEST=memfd"]).isEmpty }
        let entry = try #require(try await journal.entries(["HOOKSTREAM_TEST=memfd", "--all"]).first)
        #expect((entry["MESSAGE"] as? String)?.utf8.count == large.utf8.count)
        #expect(entry["SYSLOG_IDENTIFIER"] as? String == "hookstream-test")
    }
}
