import Foundation
import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The local Unix socket: newline-delimited JSON messages, each answered by one JSON line.
///
/// A line is `{"topic":"local/x","event":"name","data":<any JSON>}`; the answer is `{"ok":true,"ids":[...]}`
/// once the events are stored, or `{"ok":false,"error":"..."}`. The connection stays open for more lines. The
/// sender's credentials (`SO_PEERCRED`) decide whether the socket's source takes its lines, and rules see them
/// as `peer.uid`, `peer.gid` and `peer.pid`.
final class UnixSocketIngest: Service {
    /// Where the socket comes from.
    enum Listener: Sendable {
        /// Bind this path (creating its folder, replacing a stale socket file).
        case path(String)
        /// A socket passed already bound (systemd socket activation), whose unit owns the file and its mode.
        case inherited(CInt)
    }

    private let socket: Configuration.UnixSocket
    private let listener: Listener
    private let server: ServerContext
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onListening: @Sendable () -> Void
    /// Refusals of senders the source does not allow, and of connections past ``maximumConnections``, for their logs.
    private let peerRefusals = NIOLockedValueBox(RefusalLog())
    private let connectionRefusals = NIOLockedValueBox(RefusalLog())
    private let storeRefusals = NIOLockedValueBox(RefusalLog())
    /// Connections being served: in all, and per sender's uid (`nil` for a peer whose credentials the kernel did not
    /// give).
    private let openConnections = NIOLockedValueBox((total: 0, byUser: [UInt32?: Int]()))
    /// The socket's lock while it is bound from its path (``UnixSocketLock``).
    private let lock = NIOLockedValueBox<UnixSocketLock?>(nil)

    init(
        socket: Configuration.UnixSocket, listener: Listener, server: ServerContext, group: any EventLoopGroup, logger: Logger,
        onListening: @escaping @Sendable () -> Void = {}
    ) {
        self.socket = socket
        self.listener = listener
        self.server = server
        self.group = group
        switch listener {
        case .path(let path): self.logger = logger.with(metadataKey: "hookstream.socket", "\(path)")
        case .inherited: self.logger = logger.with(metadataKey: "hookstream.socket", "inherited")
        }
        self.onListening = onListening
    }

    /// Binds the socket (or adopts the inherited one) and, for a socket it made itself, sets its mode and owner.
    func bind() async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        // A sender that shuts down its side after its last line (`nc -N`, `socat`, a script's `shutdown(SHUT_WR)`)
        // still gets every answer: without half-closure NIO closed the connection at once, dropping the lines it
        // had read but not handled, and the answers.
        let bootstrap = ServerBootstrap(group: group).childChannelOption(.allowRemoteHalfClosure, value: true)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        switch listener {
        case .inherited(let descriptor):
            return try await bootstrap.bind(descriptor, childChannelInitializer: initializer)
        case .path(let path):
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty { try UnixSocketUnavailable.makeFolder(directory, for: path) }
            // A socket file left by a process that is gone is replaced; one that another process still listens on is
            // not, nor one this process cannot tell about. The lock keeps another daemon from doing the same meanwhile.
            let lock = try UnixSocketLock(socketPath: path)
            if let inUse = UnixSocketIngest.probe(path) { throw inUse }
            self.lock.withLockedValue { $0 = lock }
            let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
            do {
                server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: initializer)
            } catch {
                throw UnixSocketUnavailable(path: path, bindError: error)
            }
            UnixSocketIngest.applyPermissions(socket, logger: logger)
            return server
        }
    }

    /// Connects to `path` (and closes at once) to tell a stale socket file, which refuses the connection, from one
    /// that a process listens on: `nil` when binding may replace what is there (nothing, or a stale socket). Any
    /// other answer keeps the file: a listener whose backlog is full answers `EAGAIN`, a socket of another user
    /// `EACCES`. A path that holds anything but a socket is kept too.
    static func probe(_ path: String) -> UnixSocketInUse? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        guard status.st_mode & S_IFMT == S_IFSOCK else { return UnixSocketInUse(path: path, reason: .notASocket) }
        guard let address = try? SocketAddress(unixDomainSocketPath: path) else { return nil }  // too long: NIO refuses it when binding
        let descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return UnixSocketInUse(path: path, reason: .cannotTell(errno)) }
        defer { Glibc.close(descriptor) }
        let result = address.withSockAddr { Glibc.connect(descriptor, $0, socklen_t($1)) }
        if result == 0 { return UnixSocketInUse(path: path, reason: .listening) }
        switch errno {
        case ECONNREFUSED, ENOENT: return nil
        case EAGAIN, EINPROGRESS: return UnixSocketInUse(path: path, reason: .listening)
        case let code: return UnixSocketInUse(path: path, reason: .cannotTell(code))
        }
    }

    /// Sets the socket file's mode, owner and group as configured (again on reload). Neither call follows a
    /// symbolic link: one put in the socket's place (by whoever may write its directory) must not pass the mode or
    /// the owner on to the file it names.
    static func applyPermissions(_ socket: Configuration.UnixSocket, logger: Logger) {
        var status = stat()
        guard lstat(socket.path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else {
            logger.error("The Unix socket's path no longer holds a socket: its mode, owner and group are left as they are")
            return
        }
        // glibc's fchmodat without following goes through /proc; where /proc is not mounted it says EOPNOTSUPP, and
        // the socket just checked above gets a plain chmod.
        var changed = fchmodat(AT_FDCWD, socket.path, mode_t(socket.mode), AT_SYMLINK_NOFOLLOW) == 0
        if !changed, errno == EOPNOTSUPP { changed = chmod(socket.path, mode_t(socket.mode)) == 0 }
        if !changed {
            logger.error("Cannot set the Unix socket's mode", metadata: ["mode": "\(String(socket.mode, radix: 8))", "errno": "\(errno)"])
        }
        if socket.owner != nil || socket.group != nil {
            // -1 leaves that id as it is.
            if lchown(socket.path, socket.owner ?? UInt32.max, socket.group ?? UInt32.max) != 0 {
                logger.error(
                    "Cannot set the Unix socket's owner or group (changing the owner needs root; the group, membership of it)",
                    metadata: ["owner": "\(socket.owner.map(String.init) ?? "-")", "group": "\(socket.group.map(String.init) ?? "-")", "errno": "\(errno)"])
            }
        }
    }

    /// Connections served at once; past it a new one is answered `{"ok":false,...}` and closed. Each may hold a
    /// line of up to `line_bytes` while it arrives, so this bounds what senders can make the daemon hold.
    static let maximumConnections = 1_024
    /// Connections one user (uid) may hold at once: an allowed sender that leaks connections (a pool that never
    /// closes, a loop) leaves the other half of the places to the other senders.
    static let maximumConnectionsPerUser = maximumConnections / 2

    func run() async throws {
        // Released once the socket is closed. The file stays (NIO removes a socket file only when binding over it):
        // the next daemon's probe finds it stale.
        defer { lock.withLockedValue { $0 = nil } }
        let server = try await bind()
        logger.info("Unix socket listening")
        onListening()
        try await withGracefulShutdownHandler {
            try await server.executeThenClose { clients in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await client in clients {
                        group.addTask { await self.accept(client) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.server.routing.abandon()  // a line in flight must not wait for the routing thread's queue
            server.channel.close(promise: nil)
        }
        logger.info("Unix socket closed")
    }

    /// Serves `client` unless its sender is not allowed (checked first: silent connections of a refused user must not
    /// take the places of allowed senders) or ``maximumConnections`` are open; those are answered and closed.
    private func accept(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let peer = await UnixSocketPeer.of(client.channel)
        if let refusal = refusal(of: peer) { return await UnixSocketIngest.refuse(client, refusal) }
        let user = peer?.uid
        let overBound = openConnections.withLockedValue { open -> String? in
            guard open.total < UnixSocketIngest.maximumConnections else { return UnixSocketIngest.tooManyConnections }
            guard open.byUser[user, default: 0] < UnixSocketIngest.maximumConnectionsPerUser else { return UnixSocketIngest.tooManyConnectionsOfOneUser }
            open.total += 1
            open.byUser[user, default: 0] += 1
            return nil
        }
        if let overBound {
            if let count = connectionRefusals.withLockedValue({ $0.count(now: NIODeadline.now().uptimeNanoseconds) }) {
                logger.warning(
                    "Unix socket connections refused: \(UnixSocketIngest.maximumConnections) are open, or \(UnixSocketIngest.maximumConnectionsPerUser) of one user",
                    metadata: ["refused": "\(count)", "uid": "\(user.map(String.init) ?? "unknown")"])
            }
            return await UnixSocketIngest.refuse(client, overBound)
        }
        await serve(client, peer: peer)
        openConnections.withLockedValue { open in
            open.total -= 1
            open.byUser[user, default: 1] -= 1
            if open.byUser[user] == 0 { open.byUser[user] = nil }
        }
    }

    static let tooManyConnections = failure(
        "the Unix socket serves \(maximumConnections) connections at once; close one, or retry later")
    static let tooManyConnectionsOfOneUser = failure(
        "the Unix socket serves \(maximumConnectionsPerUser) connections of one user at once; close one, or retry later")

    /// Answers `text` and closes the connection, reading nothing.
    private static func refuse(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ text: String) async {
        try? await client.executeThenClose { _, outbound in try await outbound.write(ByteBuffer(string: text + "\n")) }
    }

    private func serve(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, peer: UnixSocketPeer?) async {
        do {
            try await client.executeThenClose { inbound, outbound in
                try await withGracefulShutdownHandler {
                    let tooLong = UnixSocketIngest.failure(UnixSocketIngest.lineTooLong(limit: socket.lineLimit))
                    for try await frame in inbound.decode(using: NewlineFrameDecoder(lineLimit: socket.lineLimit)) {
                        guard case .line(let line) = frame else {
                            // A sender a reload no longer allows is refused, whatever it sends.
                            if let refusal = refusal(of: peer) {
                                try await outbound.write(ByteBuffer(string: refusal + "\n"))
                                return
                            }
                            logger.info("Unix socket line rejected", metadata: ["error": "longer than line_bytes", "line_bytes": "\(socket.lineLimit)"])
                            try await outbound.write(ByteBuffer(string: tooLong + "\n"))
                            continue
                        }
                        let reply = await handle(line, peer: peer)
                        try await outbound.write(ByteBuffer(string: reply.text + "\n"))
                        // A sender the source does not allow has no use for the connection: it is not kept open.
                        if reply.refused { return }
                    }
                } onGracefulShutdown: {
                    client.channel.close(promise: nil)
                }
            }
        } catch {
            logger.debug("Unix socket client ended", metadata: ["error": "\(error)"])
        }
    }

    /// The answer for a sender the socket's source does not allow (logged every 10 s, with a count), or `nil`.
    /// Checked when it connects and again for each line, under the settings in force then (a reload may change them).
    private func refusal(of peer: UnixSocketPeer?) -> String? {
        guard let source = server.settings.configuration.unixSocketSource, let forbidden = UnixSocketIngest.forbidden(peer, by: source) else {
            return nil
        }
        // A refused sender's connection closes; one that reconnects in a loop is logged every 10 s, with a count.
        if let count = peerRefusals.withLockedValue({ $0.count(now: NIODeadline.now().uptimeNanoseconds) }) {
            logger.with(metadataKey: "hookstream.source", "\(source.name)").warning(
                "Unix socket sender refused: its uid and gid are not in the source's allow_uids or allow_gids",
                metadata: ["uid": "\(peer.map { String($0.uid) } ?? "unknown")", "gid": "\(peer.map { String($0.gid) } ?? "unknown")", "refused": "\(count)"])
        }
        return UnixSocketIngest.failure(forbidden)
    }

    /// Why `source` refuses `peer` (one the kernel did not name is refused by any allow list), or `nil` when it
    /// admits it. `hookstream route` (``DryRun``) asks the same.
    static func forbidden(_ peer: UnixSocketPeer?, by source: Configuration.Source) -> String? {
        guard !source.allowsPeer(uid: peer?.uid ?? UInt32.max, gid: peer?.gid ?? UInt32.max, groups: peer?.groups ?? []) else { return nil }
        let uid = peer.map { String($0.uid) } ?? "unknown"
        let gid = peer.map { String($0.gid) } ?? "unknown"
        return "forbidden: uid \(uid) and gid \(gid) are in neither allow_uids nor allow_gids of source '\(source.name)'"
    }

    /// Why a line past `server.unix_socket.line_bytes` (`limit`) is refused.
    static func lineTooLong(limit: Int) -> String {
        "line longer than \(limit) bytes (server.unix_socket.line_bytes); it was not read, the next line is"
    }

    /// Processes one line from `peer` into its one-line JSON answer; `refused` when the sender is not allowed.
    func handle(_ line: ByteBuffer, peer: UnixSocketPeer?) async -> (text: String, refused: Bool) {
        if let refusal = refusal(of: peer) { return (refusal, true) }
        let settings = server.settings
        guard let source = settings.configuration.unixSocketSource else {
            return (UnixSocketIngest.failure("no source takes the Unix socket's lines (none has unix_socket: true)"), false)
        }
        let logger = self.logger.with(metadataKey: "hookstream.source", "\(source.name)")
        return (await publish(line, from: source, peer: peer, settings: settings, logger: logger), false)
    }

    private func publish(_ line: ByteBuffer, from source: Configuration.Source, peer: UnixSocketPeer?, settings: LiveSettings, logger: Logger) async -> String {
        let message: JSONValue
        do {
            message = try UnixSocketMessage.make(line: line.readableBytesView, source: source.name, peer: peer)
        } catch {
            logger.info("Unix socket line rejected", metadata: ["error": "\(error.message)"])
            return UnixSocketIngest.failure(error.message)
        }
        let drafts: [EventDraft]
        do {
            // Within a few milliseconds' steps in this task (of Swift's shared pool); a line that needs more goes to the
            // routing thread.
            switch try server.routing.route(message, source: source.name, engine: settings.engine, logger: logger, on: group.next()) {
            case .now(let routed): drafts = routed
            case .later(let routed): drafts = try await routed.get()
            }
            server.metrics.matched(drafts)
        } catch let error as RoutingError {
            logger.log(level: error.logLevel, "Unix socket line rejected", metadata: ["error": "\(error)"])
            return UnixSocketIngest.failure(error.description)
        } catch {
            return UnixSocketIngest.failure("\(error)")  // a RoutingWorker refusal (logged by it at most every few seconds)
        }
        do {
            let events = try await server.broker.publish(drafts)
            if !events.isEmpty { logger.info("Unix socket line accepted", metadata: Publisher.eventMetadata(events, drafts, source: source.name)) }
            return JSONValue.object([.init("ok", .bool(true)), .init("ids", .array(events.map { .number(String($0.id)) }))]).jsonText
        } catch {
            // At most one line per interval, with the count: a producer that keeps writing while the disk is full
            // would otherwise log each of its lines.
            if let count = storeRefusals.withLockedValue({ $0.count(now: NIODeadline.now().uptimeNanoseconds) }) {
                logger.error(
                    "Unix socket line not stored: the event store failed",
                    metadata: ["error": "\(error)", "refused": "\(count)", LogMessageID.metadataKey: "\(LogMessageID.storeUnavailable)"])
            }
            return UnixSocketIngest.failure((error as? StoreError)?.senderMessage ?? StoreError.refusedSenderMessage)
        }
    }

    static func failure(_ message: String) -> String {
        JSONValue.object([.init("ok", .bool(false)), .init("error", .string(message))]).jsonText
    }
}
