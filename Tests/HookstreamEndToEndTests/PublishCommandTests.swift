import AsyncHTTPClient
import Foundation
import Testing

/// `hookstream publish`, the Unix socket's client, against the real daemon: it returns once the event is stored,
/// prints the daemon's answer, and says why when it was refused or the daemon could not be reached.
@Suite(.timeLimit(.minutes(2))) struct PublishCommandTests {
    static let config = """
        store: { kind: memory }
        server:
          unix_socket: { path: ./run/hookstream.sock }
        auth:
          tokens: [{ name: t, secret: { value: tok }, subscribe: ["local/**"] }]
        sources: { local: { unix_socket: true } }
        rules:
          - name: local
            source: local
            allow_topics: ["local/**"]
            publish: { topic: "{{ topic }}", event: "{{ event | default: 'message' }}", data: "{{ data }}" }
        """

    private func publish(_ arguments: [String], input: String? = nil) async throws -> (status: Int32, stdout: String, stderr: String) {
        guard let input else { return try await ChildProcess.run(TestEnvironment.binary, ["publish"] + arguments) }
        // The input through a shell's pipe, as a script sends it.
        let quoted = ([TestEnvironment.binary, "publish"] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }
        return try await ChildProcess.run("/bin/sh", ["-c", "printf '%s' \"$0\" | " + quoted.joined(separator: " "), input])
    }

    @Test func publishesTextJSONAndLinesAndSaysWhatWasRefused() async throws {
        try await withDaemon(config: Self.config) { daemon in
            let socket = ["--socket", daemon.socketPath]
            let text = try await publish(socket + ["--topic", "local/backup", "--event", "done", "--data", "backup finished"])
            #expect(text.status == 0, "\(text)")
            #expect(text.stdout == #"{"ok":true,"ids":[1]}"# + "\n")
            let json = try await publish(socket + ["--topic", "local/disk", "--json", "-"], input: #"{"used":0.93}"# + "\n")
            #expect(json.status == 0 && json.stdout.contains(#""ids":[2]"#), "\(json)")
            let lines = try await publish(
                socket + ["--lines"], input: #"{"topic":"local/a","data":"x"}"# + "\n\n" + #"{"topic":"elsewhere/b","data":"y"}"# + "\n" + #"{"topic":"local/c","data":"z"}"# + "\n")
            #expect(lines.status == 1, "one of the lines was refused: \(lines)")
            #expect(lines.stdout.split(separator: "\n").count == 3, "an answer per message, the blank line skipped: \(lines)")
            #expect(lines.stdout.contains(#"{"ok":true,"ids":[3]}"#) && lines.stdout.contains(#"{"ok":true,"ids":[4]}"#), "\(lines)")
            #expect(lines.stderr.contains("refused: topic 'elsewhere/b' not allowed"), "\(lines)")

            let stream = try await SSEStream.open(
                "\(daemon.baseURL)/events?topic=local/**", headers: [("Authorization", "Bearer tok"), ("Last-Event-ID", "0")])
            let events = try await stream.collect { $0.count == 4 }
            #expect(events.map(\.id) == ["1", "2", "3", "4"])
            #expect(events.map(\.event) == ["done", "message", "message", "message"])
            #expect(events.map(\.data) == ["backup finished", #"{"used":0.93}"#, "x", "z"])

            // Bad input: a topic the source does not allow, --json that is not JSON, no data at all.
            let refused = try await publish(socket + ["--topic", "elsewhere/x", "--data", "q"])
            #expect(refused.status == 1 && refused.stderr.contains("refused: topic 'elsewhere/x' not allowed"), "\(refused)")
            let notJSON = try await publish(socket + ["--topic", "local/x", "--json", "{bad"])
            #expect(notJSON.status == 64 && notJSON.stderr.contains("--json is not JSON"), "\(notJSON)")
            let noData = try await publish(socket + ["--topic", "local/x"])
            #expect(noData.status == 64 && noData.stderr.contains("--data TEXT or --json VALUE"), "\(noData)")
            // Bad input: --data with a byte that is not UTF-8 (the shell passes it as it is), refused as on standard
            // input, not published with a replacement character.
            let notUTF8 = try await ChildProcess.run(
                "/bin/sh", ["-c", #"exec "$0" publish --socket "$1" --topic local/x --data "$(printf 'a\377b')""#, TestEnvironment.binary, daemon.socketPath])
            #expect(notUTF8.status == 64 && notUTF8.stderr.contains("the value of --data is not UTF-8 text"), "\(notUTF8)")
            let inline = try await ChildProcess.run(
                "/bin/sh", ["-c", #"exec "$0" publish --socket "$1" --topic local/x "--data=$(printf 'a\377b')""#, TestEnvironment.binary, daemon.socketPath])
            #expect(inline.status == 64 && inline.stderr.contains("the value of --data is not UTF-8 text"), "\(inline)")
            #expect(try await publish(socket + ["--topic", "local/x", "--data", "after"]).stdout == #"{"ok":true,"ids":[5]}"# + "\n", "nothing was published")
        }
    }

    /// Bad input: with `--lines`, a line past the socket's `line_bytes` (5,000 bytes against 1 KiB) between two good
    /// ones. It is refused, with the bound in the reason, and the run goes on: the line after it is stored too (the
    /// daemon used to close the connection, which ended the run there).
    @Test func aLinePastTheBoundIsRefusedAndTheRunGoesOn() async throws {
        let config = Self.config.replacingOccurrences(of: "{ path: ./run/hookstream.sock }", with: "{ path: ./run/hookstream.sock, line_bytes: 1KiB }")
        try await withDaemon(config: config) { daemon in
            let long = #"{"topic":"local/long","data":""# + String(repeating: "x", count: 5_000) + #""}"#
            let run = try await publish(
                ["--socket", daemon.socketPath, "--lines"],
                input: #"{"topic":"local/a","data":1}"# + "\n" + long + "\n" + #"{"topic":"local/b","data":2}"# + "\n")
            #expect(run.status == 1, "one line was refused: \(run)")
            let answers = run.stdout.split(separator: "\n")
            #expect(answers.count == 3, "an answer per line: \(run)")
            #expect(answers.first == #"{"ok":true,"ids":[1]}"# && answers.last == #"{"ok":true,"ids":[2]}"#, "\(run)")
            #expect(run.stderr.contains("refused: line longer than 1024 bytes"), "\(run)")
        }
    }

    /// Bad input: with `--lines`, a line of 16 MB (against 1 KiB) between 300 short ones on each side, through a pipe.
    /// Each line gets its answer, and the run takes about as long as reading the input: the client searched a long
    /// line for its end from its start again with each chunk read, and a line of 8 MB took minutes.
    @Test func aVeryLongLineIsReadOnceAndTheRunGoesOn() async throws {
        let config = Self.config.replacingOccurrences(of: "{ path: ./run/hookstream.sock }", with: "{ path: ./run/hookstream.sock, line_bytes: 1KiB }")
        try await withDaemon(config: config) { daemon in
            let short = (0..<300).map { #"{"topic":"local/s","data":\#($0)}"# + "\n" }.joined()
            let long = #"{"topic":"local/long","data":""# + String(repeating: "x", count: 16_000_000) + #""}"# + "\n"
            let input = daemon.directory.appendingPathComponent("input.ndjson")
            try (short + long + short).write(to: input, atomically: true, encoding: .utf8)
            let run = try await ChildProcess.run(
                "/bin/sh", ["-c", #"cat "$0" | "$1" publish --socket "$2" --lines"#, input.path, TestEnvironment.binary, daemon.socketPath],
                timeout: .seconds(60))
            #expect(run.status == 1, "the long line was refused: \(run.stderr.suffix(500))")
            let answers = run.stdout.split(separator: "\n")
            #expect(answers.count == 601, "an answer per line")
            #expect(answers[299] == #"{"ok":true,"ids":[300]}"# && answers[301] == #"{"ok":true,"ids":[301]}"# && answers.last == #"{"ok":true,"ids":[600]}"#)
            #expect(run.stderr.contains("refused: line longer than 1024 bytes"), "\(run.stderr.suffix(500))")
        }
    }

    /// `--lines` reading a pipe that stays open, into a pipe: each answer comes out as soon as its line is stored, not
    /// when the input ends (output into a pipe is buffered unless flushed). Bad input: a line that is not UTF-8.
    @Test func linesFromAnOpenPipeAreAnsweredOneByOne() async throws {
        try await withDaemon(config: Self.config) { daemon in
            let publisher = try ChildProcess(TestEnvironment.binary, ["publish", "--socket", daemon.socketPath, "--lines"])
            publisher.writeLine(#"{"topic":"local/a","data":1}"#)
            try await waitUntil("the first answer while the input is still open") { publisher.stdout.contains(#"{"ok":true,"ids":[1]}"#) }
            publisher.writeLine(#"{"topic":"local/b","data":2}"#)
            try await waitUntil("the second answer") { publisher.stdout.contains(#"{"ok":true,"ids":[2]}"#) }
            publisher.closeStandardInput()
            #expect(try await publisher.waitForExit() == 0)
        }
        try await withDaemon(config: Self.config) { daemon in
            let bytes = try await ChildProcess.run(
                "/bin/sh", ["-c", #"printf '{"topic":"local/x","data":"a\377b"}\n' | "$0" publish --socket "$1" --lines"#, TestEnvironment.binary, daemon.socketPath])
            #expect(bytes.status == 1 && bytes.stdout.contains("invalid UTF-8"), "sent as read, and refused by the daemon: \(bytes)")
            let text = try await ChildProcess.run(
                "/bin/sh", ["-c", #"printf 'a\377b' | "$0" publish --socket "$1" --topic local/x --data -"#, TestEnvironment.binary, daemon.socketPath])
            #expect(text.status == 64 && text.stderr.contains("standard input is not UTF-8 text"), "\(text)")
        }
    }

    /// Bad input: no daemon at the path, and a socket whose listener reads the line and never answers.
    @Test func anUnreachableOrSilentDaemonIsAnErrorNotAWaitForever() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let missing = directory.appendingPathComponent("missing.sock").path
        let unreachable = try await publish(["--socket", missing, "--topic", "local/x", "--data", "q"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot reach the daemon's Unix socket at \(missing): No such file or directory"), "\(unreachable)")
        let file = directory.appendingPathComponent("notes.txt").path
        try "notes".write(toFile: file, atomically: true, encoding: .utf8)
        let notASocket = try await publish(["--socket", file, "--topic", "local/x", "--data", "q"])
        #expect(notASocket.status == 1 && notASocket.stderr.contains("\(file) is not a Unix socket"), "\(notASocket)")

        let silent = directory.appendingPathComponent("silent.sock").path
        let listener = try ChildProcess("/usr/bin/python3", [
            "-c",
            "import socket, sys, time; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); print('listening', flush=True); "
                + "c, _ = s.accept(); c.recv(4096); time.sleep(30)",
            silent,
        ])
        try await waitUntil("the silent listener") { listener.stdout.contains("listening") }
        let started = ContinuousClock.now
        let waited = try await publish(["--socket", silent, "--topic", "local/x", "--data", "q", "--timeout", "1"])
        #expect(waited.status == 1)
        #expect(waited.stderr.contains("no answer from the daemon within 1 s"), "\(waited)")
        #expect(ContinuousClock.now - started < .seconds(20), "the timeout, not the listener's end, ended it")
        listener.signal(SIGKILL)
    }
}
