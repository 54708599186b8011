import ArgumentParser
import AsyncHTTPClient
import Foundation
import HookstreamCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// `hookstream subscribe`: prints a stream's events as they arrive, and reconnects as a browser's `EventSource`
/// does: after the server's `retry:` (at most ``longestRetry``), resuming with `Last-Event-ID`, until interrupted.
struct SubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "Print the events of topics as they arrive; reconnect with Last-Event-ID.",
        discussion: "Example: hookstream subscribe http://127.0.0.1:8080 --token demo-token --topic 'demo/**'"
    )

    @Argument(help: "The daemon's base URL (http://127.0.0.1:8080), or its /events URL.")
    var url: String

    @Option(name: .long, help: "The token (sent as Authorization: Bearer). Other local users can read it in the process list: prefer --token-env or --token-file.")
    var token: String?

    @Option(name: .customLong("token-env"), help: "The environment variable that holds the token.")
    var tokenEnv: String?

    @Option(name: .customLong("token-file"), help: "A file that holds the token (a trailing newline is ignored).")
    var tokenFile: String?

    @Option(name: .long, help: "A topic or pattern (repeatable).")
    var topic: [String] = []

    @Option(name: .customLong("last-event-id"), help: "Resume after this event id.")
    var lastEventID: String?

    @Option(name: .long, help: "Exit after this many events.")
    var count: Int?

    @Flag(name: .long, help: "Print each event as a JSON line: {\"id\",\"event\",\"data\"}.")
    var json = false

    @Option(name: .customLong("cacert"), help: "Trust the CA certificates in this PEM file (with https://, for a server whose certificate the system does not trust).")
    var caCertificates: String?

    /// How long one connection attempt may take before it counts as failed (and is retried after `retry:`).
    static let connectTimeout = TimeAmount.seconds(10)

    /// The longest wait between attempts, in milliseconds, whatever `retry:` a server sends: a wrong or hostile one
    /// (`retry: 9223372036854775807`) would otherwise keep the command waiting for good.
    static let longestRetry = 300_000

    func validate() throws {
        guard !topic.isEmpty else { throw ValidationError("name at least one --topic") }
        guard [token, tokenEnv, tokenFile].compactMap({ $0 }).count <= 1 else {
            throw ValidationError("give the token one way: --token, --token-env or --token-file")
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValidationError("the URL must start with http:// or https://") }
        if let caCertificates {
            guard url.hasPrefix("https://") else { throw ValidationError("--cacert is for an https:// URL") }
            guard FileManager.default.isReadableFile(atPath: caCertificates) else { throw ValidationError("cannot read the CA file \(caCertificates)") }
        }
    }

    /// A client of its own: `HTTPClient.shared` retries a connection that fails until the request's deadline, which
    /// for a stream is never, so a refused connection or an untrusted certificate would hang without a word. Here a
    /// failed attempt fails the request at once, is printed, and is tried again after the stream's `retry:`.
    private func makeClient() throws -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = SubscribeCommand.connectTimeout
        configuration.connectionPool.retryConnectionEstablishment = false
        if let caCertificates {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caCertificates))
            } catch {
                throw Self.usageError("the CA file \(caCertificates) holds no PEM certificate: \(error)")
            }
            configuration.tlsConfiguration = tls
        }
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// A failure to connect, said so that it can be acted on.
    private func describe(_ error: any Error) -> String {
        if let error = error as? NIOSSLError, case .handshakeFailed = error {
            return "the TLS handshake failed (\(error)): if the server's certificate comes from your own CA, give it with --cacert FILE"
        }
        if let error = error as? HTTPClientError, error == .connectTimeout {
            return "no connection within \(SubscribeCommand.connectTimeout.nanoseconds / 1_000_000_000) s"
        }
        // Not the error's description: AsyncHTTPClient's quotes the request's refused header values, the token's among them.
        if let error = error as? HTTPClientError { return error.shortDescription }
        return "\(error)"
    }

    /// The token, from wherever it was given; `nil` for none. One line of printable text: a file of several lines (an
    /// `.env` file) or a value with a control character is refused without quoting it, since it would not make a
    /// valid header and its text may hold other secrets.
    private func resolvedToken() throws -> String? {
        guard let token = try givenToken() else { return nil }
        guard token.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
            let origin = tokenFile.map { "the token file \($0)" } ?? tokenEnv.map { "the environment variable \($0)" } ?? "--token"
            throw Self.usageError("\(origin) holds a line break or another control character: a token is one line of printable text")
        }
        return token
    }

    private func givenToken() throws -> String? {
        if let tokenEnv {
            guard let value = ProcessInfo.processInfo.environment[tokenEnv], !value.isEmpty else {
                throw Self.usageError("the environment variable \(tokenEnv) is not set")
            }
            return value
        }
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else { throw Self.usageError("cannot read the token file \(tokenFile)") }
            let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { throw Self.usageError("the token file \(tokenFile) is empty") }
            return value
        }
        return token
    }

    func run() async throws {
        let token = try resolvedToken()
        let client = try makeClient()
        do {
            try await stream(token: token, client: client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
    }

    private func stream(token: String?, client: HTTPClient) async throws {
        var base = url.hasSuffix("/") ? String(url.dropLast()) : url
        // The stream's own URL, as the README and a browser's EventSource name it, is taken for the base it is under.
        if base.hasSuffix("/events") { base.removeLast("/events".count) }
        let query = topic.map { "topic=" + ($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(.init(charactersIn: "&=+"))) ?? $0) }
        let target = base + "/events?" + query.joined(separator: "&")
        var resumeAfter = lastEventID
        var retry = 3000
        var printed = 0
        while true {
            var request = HTTPClientRequest(url: target)
            request.headers.add(name: "Accept", value: "text/event-stream")
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if let resumeAfter { request.headers.add(name: "Last-Event-ID", value: resumeAfter) }
            do {
                let response = try await client.execute(request, timeout: .hours(24 * 365))
                guard response.status == .ok else {
                    let body = try await response.body.collect(upTo: 64 * 1024)
                    let message = "hookstream subscribe: \(response.status.code) \(String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines))"
                    // As EventSource does, a refusal ends it: the token or the topics must change first.
                    guard response.status == .tooManyRequests || response.status == .serviceUnavailable else {
                        printToStandardError(message)
                        throw ExitCode(1)
                    }
                    printToStandardError(message + "; retrying in \(retry) ms")
                    try await Task.sleep(for: .milliseconds(retry))
                    continue
                }
                var decoder = SSEDecoder()
                for try await chunk in response.body {
                    for event in decoder.feed(chunk.readableBytesView) {
                        emit(event)
                        printed += 1
                        if let count, printed >= count { return }
                    }
                    resumeAfter = decoder.lastEventID ?? resumeAfter
                    retry = min(decoder.retry ?? retry, SubscribeCommand.longestRetry)
                }
                printToStandardError("hookstream subscribe: the stream ended; reconnecting in \(retry) ms" + (resumeAfter.map { " after id \($0)" } ?? ""))
            } catch let exit as ExitCode {
                throw exit
            } catch {
                printToStandardError("hookstream subscribe: \(describe(error)); reconnecting in \(retry) ms")
            }
            try await Task.sleep(for: .milliseconds(retry))
        }
    }

    /// Writes one event to standard output at once (unbuffered, so a pipe sees each event as it arrives).
    private func emit(_ event: SSEDecoder.Event) {
        let text: String
        if json {
            text = JSONValue.object([
                .init("id", event.id.map(JSONValue.string) ?? .null), .init("event", .string(event.type)), .init("data", .string(event.data)),
            ]).jsonText + "\n"
        } else {
            text = "id: \(event.id ?? "-")  event: \(event.type)\n\(event.data)\n\n"
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
