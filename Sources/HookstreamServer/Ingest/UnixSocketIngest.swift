import Foundation
import HookstreamCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The local Unix socket: newline-delimited JSON messages, each answered by one JSON line.
///
/// A line is `{"topic":"local/x","event":"name","data":<any JSON>}`; the answer is `{"ok":true,"ids":[...]}`
/// once the events are stored, or `{"ok":false,"error":"..."}`. The connection stays open for more lines.
final class UnixSocketIngest: Service {
    private let socket: Configuration.UnixSocket
    private let source: String
    private let engine: RuleEngine
    private let broker: Broker
    private let group: any EventLoopGroup
    private let logger: Logger

    init(socket: Configuration.UnixSocket, source: String, engine: RuleEngine, broker: Broker, group: any EventLoopGroup, logger: Logger) {
        self.socket = socket
        self.source = source
        self.engine = engine
        self.broker = broker
        self.group = group
        self.logger = logger.with(metadataKey: "hookstream.source", "\(source)")
    }

    /// Creates the socket's folder if missing, and binds (replacing a stale socket file).
    func bind() async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        let directory = (socket.path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let server = try await ServerBootstrap(group: group)
            .bind(unixDomainSocketPath: socket.path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        chmod(socket.path, mode_t(socket.mode))
        return server
    }

    func run() async throws {
        let server = try await bind()
        logger.info("Unix socket listening", metadata: ["path": "\(socket.path)"])
        try await withGracefulShutdownHandler {
            try await server.executeThenClose { clients in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await client in clients {
                        group.addTask { await self.serve(client) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
        logger.info("Unix socket closed")
    }

    private func serve(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        do {
            try await client.executeThenClose { inbound, outbound in
                try await withGracefulShutdownHandler {
                    do {
                        for try await line in inbound.splitLines(maximumBufferSize: socket.lineLimit) {
                            let reply = await handle(line)
                            try await outbound.write(ByteBuffer(string: reply + "\n"))
                        }
                    } catch let error as NIOTooManyBytesError {
                        _ = error
                        let reply = UnixSocketIngest.failure("line longer than \(socket.lineLimit) bytes; closing the connection")
                        try? await outbound.write(ByteBuffer(string: reply + "\n"))
                    }
                } onGracefulShutdown: {
                    client.channel.close(promise: nil)
                }
            }
        } catch {
            logger.debug("Unix socket client ended", metadata: ["error": "\(error)"])
        }
    }

    /// Processes one line into its one-line JSON answer.
    func handle(_ line: ByteBuffer) async -> String {
        let message: JSONValue
        do {
            var bytes = line.readableBytesView[...]
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            message = try JSONParser.parse(bytes)
        } catch {
            logger.info("Unix socket line rejected", metadata: ["error": "\(error)"])
            return UnixSocketIngest.failure("bad JSON: \(error)")
        }
        guard case .object = message else {
            return UnixSocketIngest.failure("each line must be a JSON object like {\"topic\":\"local/x\",\"data\":...}")
        }
        guard let topic = message["topic"] else {
            return UnixSocketIngest.failure("missing \"topic\"")
        }
        guard case .string = topic else {
            return UnixSocketIngest.failure("\"topic\" must be a string")
        }
        if let event = message["event"], event != .null, event.stringValue == nil {
            return UnixSocketIngest.failure("\"event\" must be a string")
        }
        var context = message
        if case .object(var members) = context {
            members.append(.init("body", message))
            members.append(.init("source", .string(source)))
            context = .object(members)
        }
        let drafts: [EventDraft]
        do {
            drafts = try engine.route(source: source, context: context)
        } catch {
            logger.info("Unix socket line rejected", metadata: ["error": "\(error)"])
            return UnixSocketIngest.failure(error.description)
        }
        do {
            let events = try await broker.publish(drafts)
            return JSONValue.object([.init("ok", .bool(true)), .init("ids", .array(events.map { .number(String($0.id)) }))]).jsonText
        } catch {
            logger.error("Unix socket line not stored: the event store failed", metadata: ["error": "\(error)"])
            return UnixSocketIngest.failure("the event store cannot accept events right now; retry later")
        }
    }

    static func failure(_ message: String) -> String {
        JSONValue.object([.init("ok", .bool(false)), .init("error", .string(message))]).jsonText
    }
}
