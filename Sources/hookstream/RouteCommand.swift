import ArgumentParser
import Foundation
import HookstreamCore
import HookstreamServer

/// `hookstream route`: tries a message against the rules without starting anything, and says what would happen.
struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Show which rules a message matches and which events it would publish.",
        discussion: """
            Runs the daemon's own rule engine (and, with --verify, its signature check) on a message, as if it had \
            arrived at the source. Exit status: 0 when at least one event would be published, 1 when none, 64 for a \
            usage error (a source the config does not have, a body that cannot be read), 78 for an invalid config.

            Example: hookstream route --source github --header 'X-GitHub-Event: push' --body push.json
            """
    )

    @Option(name: .long, help: "The config file.")
    var config: String = "config/hookstream.yaml"

    @Option(name: .long, help: "The source the message arrives at (a key of sources:).")
    var source: String

    @Option(name: .long, help: "A request header, 'Name: value' (repeatable).")
    var header: [String] = []

    @Option(name: .long, help: "A query parameter, name=value (repeatable).")
    var query: [String] = []

    @Option(name: .long, help: "The body: a file, or - for standard input. For the Unix socket's source, one JSON line.")
    var body: String?

    @Option(name: .long, help: "The HTTP method.")
    var method: String = "POST"

    @Option(name: .long, help: "The path below /hooks/<source>/.")
    var path: String = ""

    @Option(name: .long, help: "For the Unix socket's source: the sender's user id, as the kernel tells the daemon (peer.uid; default: yours).")
    var peerUID: UInt32?

    @Option(name: .long, help: "For the Unix socket's source: the sender's group id (peer.gid; default: yours).")
    var peerGID: UInt32?

    @Option(name: .long, help: "For the Unix socket's source: the sender's process id (peer.pid; default: this command's).")
    var peerPID: Int32?

    @Option(
        name: .long,
        help: "For the Unix socket's source: a supplementary group of the sender, which allow_gids admits too (repeat it; default: yours, unless --peer-uid or --peer-gid is given).")
    var peerGroup: [UInt32] = []

    @Flag(name: .long, help: "Check the signature headers as the daemon would (for sources with verify:).")
    var verify = false

    @Flag(name: .long, help: "Print JSON: {\"events\":[{rule,topic,event,data}],\"rules\":[{name,matched,failed,reason}]}, with error, given_up, signature and refused when they apply.")
    var json = false

    func run() throws {
        let configuration: Configuration
        do {
            configuration = try ConfigLoader.load(path: config)
        } catch {
            printToStandardError(error.description)
            throw ExitCode(ExitCodes.configuration)
        }
        var request = DryRun.Request(source: source)
        request.method = method.uppercased()
        request.subPath = path.hasPrefix("/") ? String(path.dropFirst()) : path
        // The daemon always knows who sent a socket line; so does the dry run, as the sender you say (or you).
        request.peer = (uid: peerUID ?? getuid(), gid: peerGID ?? getgid(), pid: peerPID ?? getpid())
        request.peerGroups = peerGroup.isEmpty && peerUID == nil && peerGID == nil ? RouteCommand.supplementaryGroups() : peerGroup
        for text in header {
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
                throw Self.usageError("--header must be 'Name: value', found '\(text)'")
            }
            request.headers.append((String(text[..<colon]), String(text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces))))
        }
        for text in query {
            let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            request.query.append((String(parts[0]), parts.count > 1 ? String(parts[1]) : ""))
        }
        if let body {
            let data: Data?
            if body == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                // Through a handle, not `contents(atPath:)`, which reads regular files only: a pipe (`<(…)`, a FIFO,
                // /dev/stdin) is a body too.
                data = FileHandle(forReadingAtPath: body).flatMap { handle in
                    defer { try? handle.close() }
                    return (try? handle.readToEnd()) ?? nil
                } ?? nil
            }
            guard let data else { throw Self.usageError("cannot read the body file '\(body)'") }
            request.body = Array(data)
        }
        request.verify = verify
        let result: DryRun.Result
        do {
            result = try DryRun.run(request, configuration: configuration)
        } catch {
            throw Self.usageError(error.description)
        }
        if json { printJSON(result) } else { printText(result) }
        if result.refused != nil || result.report.events.isEmpty { throw ExitCode(1) }
    }

    /// This process's supplementary groups, as the daemon reads a sender's.
    private static func supplementaryGroups() -> [UInt32] {
        let count = getgroups(0, nil)
        guard count > 0 else { return [] }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return filled > 0 ? Array(groups.prefix(Int(filled))) : []
    }

    private func printText(_ result: DryRun.Result) {
        let kind = result.kind == .webhook ? "webhook" : "Unix socket"
        print("source \(source) (\(kind)):")
        if let signature = result.signature {
            print(signature.accepted ? "  signature: accepted" : "  signature: REJECTED: \(signature.reason ?? "")")
        }
        if let refused = result.refused {
            print("  refused with \(refused.status): \(refused.message)")
            return
        }
        if result.report.rules.isEmpty { print("  no rule takes messages from this source") }
        for rule in result.report.rules {
            if rule.failed {
                print("  FAILED   \(rule.name): \(rule.reason ?? "")")
            } else if rule.matched {
                print("  matched  \(rule.name)")
            } else {
                print("  no match \(rule.name): \(rule.reason ?? "")")
            }
        }
        if let error = result.report.error {
            print("nothing would be published: \(error)")
            return
        }
        if let search = result.report.givenUp {
            print("warning: rule '\(search.rule ?? "")' decided without a regex search it gave up (the daemon logs this): \(search)")
        }
        print(result.report.events.isEmpty ? "no events would be published" : "events that would be published:")
        for event in result.report.events {
            print("  topic: \(event.topic)  event: \(event.type)  (rule \(event.rule))")
            print("    data: \(event.data.text)")
        }
    }

    private func printJSON(_ result: DryRun.Result) {
        let events = result.report.events.map { event -> JSONValue in
            let data: JSONValue = event.data.isJSON ? ((try? JSONParser.parse(event.data.text)) ?? .string(event.data.text)) : .string(event.data.text)
            return .object([.init("rule", .string(event.rule)), .init("topic", .string(event.topic)), .init("event", .string(event.type)), .init("data", data)])
        }
        let rules = result.report.rules.map { rule -> JSONValue in
            .object([
                .init("name", .string(rule.name)), .init("matched", .bool(rule.matched)), .init("failed", .bool(rule.failed)),
                .init("reason", rule.reason.map(JSONValue.string) ?? .null),
            ])
        }
        var members: [JSONValue.Member] = [.init("events", .array(events)), .init("rules", .array(rules))]
        if let error = result.report.error { members.append(.init("error", .string(error.description))) }
        if let search = result.report.givenUp {
            members.append(.init("given_up", .object([.init("rule", .string(search.rule ?? "")), .init("reason", .string(search.description))])))
        }
        if let signature = result.signature {
            members.append(.init("signature", .object([.init("accepted", .bool(signature.accepted)), .init("reason", signature.reason.map(JSONValue.string) ?? .null)])))
        }
        if let refused = result.refused {
            members.append(.init("refused", .object([.init("status", .number(String(refused.status))), .init("message", .string(refused.message))])))
        }
        print(JSONValue.object(members).jsonText)
    }
}
