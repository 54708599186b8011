import ArgumentParser
import Foundation
import HookstreamCore
import NIOCore
import NIOPosix

/// `hookstream publish`: the Unix socket's client. Sends one message, or every line of its standard input with
/// `--lines`, and waits for each answer, so a script knows its event is stored when the command returns.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish over the daemon's Unix socket; return once the events are stored.",
        discussion: """
            Examples:
              hookstream publish --topic local/backup --event done --data 'finished'
              hookstream publish --topic local/disk --json '{"used":0.93}'
              jq -c '{topic: "local/jobs", data: .}' r.json | hookstream publish --lines

            The socket is --socket, else $HOOKSTREAM_SOCKET, else ./run/hookstream.sock (the default config's \
            server.unix_socket.path; under the systemd units, /run/hookstream/ingest.sock). Each answer is printed \
            as the daemon gives it ({"ok":true,"ids":[...]}).

            Exit status: 0 when every message was stored, 1 when one was refused or the daemon could not be \
            reached (the reason on standard error), 64 for bad arguments.
            """)

    @Option(name: .long, help: "The daemon's Unix socket.")
    var socket: String?

    @Option(name: .long, help: "The message's topic (the socket source's rules may rewrite or refuse it).")
    var topic: String?

    @Option(name: .long, help: "The event's type (the SSE event: field).")
    var event: String?

    @Option(name: .long, help: "The event's data as text; - reads it from standard input.")
    var data: String?

    @Option(name: .long, help: "The event's data as any JSON value; - reads it from standard input.")
    var json: String?

    @Flag(name: .long, help: "Send each line of standard input as it is: one JSON message a line, {\"topic\",\"event\",\"data\"}. A line past the socket's line_bytes is refused, and the next is sent.")
    var lines = false

    @Option(name: .long, help: "Seconds to wait for the daemon's answer to each message.")
    var timeout: Int = 10

    func validate() throws {
        // Swift hands the arguments over with bytes that are not UTF-8 replaced (U+FFFD): the raw ones are looked at,
        // so that such data is refused as it is on standard input, not published changed.
        for index in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[index], String(validatingCString: raw) == nil else { continue }
            // Named by its option where there is one: `--data VALUE` or `--data=VALUE`.
            let previous = index > 1 ? CommandLine.unsafeArgv[index - 1].flatMap { String(validatingCString: $0) } : nil
            let inline = String(cString: raw)  // not UTF-8: repaired, enough to find an option's name
            let what =
                if inline.hasPrefix("--"), let equals = inline.firstIndex(of: "=") {
                    "the value of \(inline[..<equals])"
                } else if let previous, previous.hasPrefix("--"), !previous.contains("=") {
                    "the value of \(previous)"
                } else {
                    "argument \(index)"
                }
            throw ValidationError("\(what) is not UTF-8 text (send binary data encoded, as base64 say)")
        }
        if lines {
            guard topic == nil, event == nil, data == nil, json == nil else {
                throw ValidationError("--lines sends whole messages from standard input: give no --topic, --event, --data or --json with it")
            }
        } else {
            guard let topic, !topic.isEmpty else { throw ValidationError("name the topic with --topic (or send whole messages with --lines)") }
            guard (data == nil) != (json == nil) else { throw ValidationError("give the event's data one way: --data TEXT or --json VALUE") }
        }
        guard (1...86_400).contains(timeout) else { throw ValidationError("--timeout must be between 1 and 86400 seconds") }
        if let socket, socket.isEmpty { throw ValidationError("--socket must not be empty") }
        if let json, json != "-" { _ = try PublishCommand.parseJSON(json) }
    }

    func run() async throws {
        let path = socket ?? ProcessInfo.processInfo.environment["HOOKSTREAM_SOCKET"].flatMap { $0.isEmpty ? nil : $0 } ?? "./run/hookstream.sock"
        // The message is made (and a bad --json refused) before the daemon is asked anything.
        let single = lines ? nil : Array(try message().utf8)
        let refused: Bool
        do {
            refused = try await UnixSocketClient.withConnection(to: path, timeout: .seconds(Int64(timeout))) { client in
                if let single { return try await PublishCommand.send(single, with: &client) }
                var anyRefused = false
                var input = StandardInputLines()
                while let line = try await input.next() {
                    guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) else { continue }
                    // As read: the daemon judges the line (bytes that are not UTF-8 included), not a repaired copy.
                    if try await PublishCommand.send(line, with: &client) { anyRefused = true }
                }
                return anyRefused
            }
        } catch let failure as UnixSocketClient.Failure {
            printToStandardError("hookstream publish: \(failure)")
            throw ExitCode(1)
        }
        if refused { throw ExitCode(1) }
    }

    /// The message of `--topic`, `--event` and `--data` or `--json`, as one line of JSON.
    private func message() throws -> String {
        var members = [JSONValue.Member("topic", .string(topic ?? ""))]
        if let event { members.append(.init("event", .string(event))) }
        if let data {
            members.append(.init("data", .string(data == "-" ? try PublishCommand.standardInput(trimmingOneNewline: true) : data)))
        } else if let json {
            members.append(.init("data", try PublishCommand.parseJSON(json == "-" ? try PublishCommand.standardInput(trimmingOneNewline: false) : json)))
        }
        return JSONValue.object(members).jsonText
    }

    private static func parseJSON(_ text: String) throws -> JSONValue {
        do {
            return try JSONParser.parse(text)
        } catch {
            throw Self.usageError("--json is not JSON: \(error)")
        }
    }

    /// Standard input as text; bytes that are not UTF-8 are refused rather than replaced.
    private static func standardInput(trimmingOneNewline: Bool) throws -> String {
        guard let text = String(validating: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) else {
            throw Self.usageError("standard input is not UTF-8 text (send binary data encoded, as base64 say)")
        }
        // What `echo` adds is not part of the data; any other line break in it is.
        return trimmingOneNewline && text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// Sends `line`, prints the answer at once (a refusal's reason to standard error too); whether it was refused.
    private static func send(_ line: some Collection<UInt8>, with client: inout UnixSocketClient) async throws -> Bool {
        let answer = try await client.send(line)
        print(answer)
        // Each answer as it comes, even into a pipe: a long-running `--lines` run is followed line by line.
        fflush(nil)  // every stream: naming `stdout` is not concurrency-safe in Swift 6
        let stored = (try? JSONParser.parse(answer))?["ok"] == .bool(true)
        if !stored {
            let reason = (try? JSONParser.parse(answer))?["error"]?.stringValue ?? answer
            printToStandardError("hookstream publish: refused: \(reason)")
        }
        return !stored
    }
}
