public import HookstreamCore
public import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
#if canImport(Glibc)
import Glibc
#endif
public import ServiceLifecycle

/// The event store in a PostgreSQL database, which several hookstream instances may share: behind a load balancer,
/// each serves every topic, and each hears of the others' events through `LISTEN`/`NOTIFY` (``SharedEventStore``).
///
/// - An append raises `last_id` in the statement that stores its events, and holds that row's lock until it commits,
///   so ids are handed out, and committed, in one order across every instance: an instance that has heard of id `n`
///   has every id below it that still exists.
/// - Appends of one instance go through one writer, which commits everything waiting in one transaction (group
///   commit); the `202` follows the commit.
/// - Retention runs on one instance at a time (a session advisory lock); the others skip their pass.
///
/// The store is a `Service`: its ``run()`` runs the connection pool (replays' reads) and the listener. Appends do
/// not need it: the writer works on its connection's event loop. The daemon closes the store (``close()``, which waits
/// for the appends made) before it tells the service to stop.
///
/// ```swift
/// let store = try await PostgresEventStore.open(settings, logger: logger)
/// let group = ServiceGroup(services: [store, ...], logger: logger)
/// ```
public final class PostgresEventStore: SharedEventStore, Service, CustomStringConvertible {
    /// One append waiting for the writer.
    struct PendingAppend: Sendable {
        var batches: [EventBatch]
        var completion: @Sendable (Result<[[Event]], any Error>) -> Void
    }

    struct WriterState: Sendable {
        var pending: [PendingAppend] = []
        var isClosed = false
        /// Whether a commit is under way (the next one starts when it ends, with everything that waits by then).
        var isCommitting = false
        /// The writer's connection, made on the first append and again after one broke.
        var connection: PostgresConnection?
        /// When the last commit failed (uptime, for ``refusalLapse``), until one succeeds.
        var lastCommitFailure: ContinuousClock.Instant?
        /// Whether a commit failed since the last one that succeeded: its outcome may be unknown (a connection lost
        /// after the statement was sent), so after the next success the listener reads what it may have stored.
        var mayHaveStoredUnawares = false
        /// Counts commits, so that a commit's deadline closes the connection only if that commit is still running.
        var commits = 0
        /// Told once nothing is committing or waiting after the store was closed.
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    /// How the writer and the listener find out that their connection no longer answers, and how much one page of the
    /// listener's catch-up reads (tests shorten them).
    struct Limits: Sendable {
        /// How long a commit may take before its connection is closed (past the server's `statement_timeout`).
        var commitDeadline = TimeAmount.seconds(35)
        /// How often the listener reads whatever it heard or not.
        var sweep = TimeAmount.seconds(30)
        /// How long one page of a catch-up (its two reads) may take before the listener's connection is closed.
        var catchUpDeadline = TimeAmount.seconds(35)
        /// About the most bytes of event data one page reads (it ends at the event that reaches them): a page of large
        /// events must not take past the deadline.
        var pageBytes = 16 << 20
    }

    struct FollowState: Sendable {
        var cursor: (@Sendable () -> EventID)?
        var deliver: (@Sendable ([Event], EventID) -> Void)?
        /// Whether the listener's connection is up (readiness says so when it is not).
        var isListening = false
        var hasListened = false
        /// Wakes the listener to read what it has not handed on (the writer uses it after a failed commit).
        var hear: AsyncStream<Void>.Continuation?
    }

    /// `NOTIFY`'s channel: each commit says `<instance> <first id> <last id>` on it.
    static let channel = "hookstream_events"
    /// Advisory lock keys ("hookstrm" and the next): retention, and the schema's creation.
    static let retentionLock: Int64 = 0x686F_6F6B_7374_726E
    static let schemaLock: Int64 = retentionLock + 1
    /// Most events one page of the listener's catch-up reads (``Limits/pageBytes`` bounds their bytes).
    static let catchUpPage = 1_000
    /// Most rows a retention statement deletes.
    static let pruneChunk = 5_000

    let settings: PostgresStore
    /// How long a failed commit keeps ``condition`` refusing; then degraded until a commit succeeds. A balancer that
    /// takes every instance out of rotation on `503` would otherwise send none the publish that shows the database is
    /// back.
    let refusalLapse: Duration
    let logger: Logger
    let now: @Sendable () -> Int64
    let client: PostgresClient
    let connectionConfiguration: PostgresConnection.Configuration
    /// Tells this instance's notifications from the others'.
    let instance: String
    let writer = NIOLockedValueBox(WriterState())
    /// How long each commit took, from taking the connection to the answer (`hookstream_store_commit_seconds`, as the
    /// SQLite store's).
    let commitDuration = Timer(label: "hookstream_store_commit_seconds")
    let follow = NIOLockedValueBox(FollowState())
    /// The highest id this instance knows was handed out (read at open, raised by appends and by the listener).
    let knownLastID: NIOLockedValueBox<EventID>
    /// Whether ``run()`` has started the pool (reads wait for it).
    let isRunning = NIOLockedValueBox(false)
    /// Where the writer's connection lives: the HTTP server's loop when the daemon passes it, so that an append and its
    /// `202` need no other thread.
    let writerLoop: any EventLoop
    let limits: Limits

    public var description: String { "PostgresEventStore" }

    /// The store's logger at `debug` at the most verbose: the store hands it to PostgresNIO, which logs its login at
    /// `trace`, SCRAM's nonce, salt and proof among it, enough to guess the password offline.
    static func driverLogger(_ logger: Logger) -> Logger {
        var logger = logger
        if logger.logLevel < .debug { logger.logLevel = .debug }
        return logger
    }

    private init(
        settings: PostgresStore, lastID: EventID, refusalLapse: Duration, writerLoop: any EventLoop, limits: Limits,
        logger: Logger, now: @escaping @Sendable () -> Int64
    ) throws {
        self.settings = settings
        self.writerLoop = writerLoop
        self.limits = limits
        self.refusalLapse = refusalLapse
        let logger = PostgresEventStore.driverLogger(logger)
        self.logger = logger
        self.now = now
        self.knownLastID = NIOLockedValueBox(lastID)
        self.connectionConfiguration = try PostgresEventStore.connectionConfiguration(settings)
        var configuration = PostgresEventStore.clientConfiguration(settings)
        configuration.options.maximumConnections = 8
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = PostgresEventStore.sessionSettings
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.instance = String(UInt64.random(in: 1...UInt64.max), radix: 36)
    }

    /// Connects to the database, creates the store's tables if they are missing (one instance at a time), and reads the
    /// last id handed out.
    /// - Throws: ``StoreError`` (`openFailed`) saying where it tried and what the server or the network said.
    /// - Parameters:
    ///   - writerLoop: the event loop of the writer's connection (the daemon passes its HTTP server's); by default one
    ///     of PostgresNIO's.
    ///   - refusalLapse: how long a failed append keeps ``condition`` refusing (tests use a short one).
    public static func open(
        _ settings: PostgresStore, writerLoop: (any EventLoop)? = nil, logger: Logger = Logger(label: "hookstream.store"),
        now: @escaping @Sendable () -> Int64 = WallClock.milliseconds, refusalLapse: Duration = .seconds(10)
    ) async throws(StoreError) -> PostgresEventStore {
        try await open(settings, writerLoop: writerLoop, logger: logger, now: now, refusalLapse: refusalLapse, limits: Limits())
    }

    static func open(
        _ settings: PostgresStore, writerLoop: (any EventLoop)? = nil, logger: Logger = Logger(label: "hookstream.store"),
        now: @escaping @Sendable () -> Int64 = WallClock.milliseconds, refusalLapse: Duration = .seconds(10), limits: Limits
    ) async throws(StoreError) -> PostgresEventStore {
        let logger = driverLogger(logger)
        do {
            let configuration = try connectionConfiguration(settings)
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            let last: EventID
            do {
                last = try await connection.transaction(logger: logger) { connection in
                    try await PostgresSchema.migrate(connection, logger: logger)
                    return try await PostgresSchema.lastID(connection, logger: logger)
                }
                try? await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
            return try PostgresEventStore(
                settings: settings, lastID: last, refusalLapse: refusalLapse,
                writerLoop: writerLoop ?? PostgresConnection.defaultEventLoopGroup.any(), limits: limits, logger: logger, now: now)
        } catch {
            throw StoreError(
                .openFailed,
                "the PostgreSQL store \(settings.location) cannot be opened: \(PostgresEventStore.describe(error))")
        }
    }

    // MARK: Running

    /// Runs the connection pool and the listener until graceful shutdown (appends need neither: the writer works on
    /// its event loop, from ``append(batches:completion:)`` on). The daemon closes the store before it tells this
    /// service to stop.
    public func run() async throws {
        isRunning.withLockedValue { $0 = true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.runListener() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    // MARK: Deliveries

    public func delivery(_ key: DeliveryKey, since: Int64) async throws -> DeliveryRecord? {
        try await reading { connection in
            let rows = try await connection.rows(
                """
                SELECT time, event_ids, topics FROM hookstream_deliveries
                WHERE source = \(key.source) AND id = \(key.id) AND time >= \(since)
                """, logger: self.logger)
            guard let row = rows.first else { return nil }
            let (time, ids, topics) = try row.decode((Int64, [Int64], [String]).self)
            return DeliveryRecord(ids: ids.map { EventID($0) }, topics: topics, time: time)
        }
    }

    // MARK: Health

    public func lastEventID() async throws -> EventID {
        guard isRunning.withLockedValue({ $0 }) else { return knownLastID.withLockedValue { $0 } }
        let last = try await reading { connection in try await PostgresSchema.lastID(connection, logger: self.logger) }
        return knownLastID.withLockedValue { known in
            known = max(known, last)
            return known
        }
    }

    /// Answers at once: the watchdog asks whether this process works, and a database that is away is not cured by
    /// restarting it (``condition`` tells readiness, and appends fail with a 503, until it is back).
    public func probe() async throws {}


    public var condition: StoreCondition {
        if let failure = writer.withLockedValue({ $0.lastCommitFailure }) {
            return ContinuousClock.now - failure < refusalLapse
                ? .refusing("the event store cannot be written")
                : .degraded("the event store's last write failed; publishes are tried again")
        }
        let deaf = follow.withLockedValue { $0.deliver != nil && $0.hasListened && !$0.isListening }
        return deaf ? .degraded("the event store's listener is not connected: events of other instances are late") : .healthy
    }

    // MARK: Helpers

    /// Runs `work` on a connection of the pool, turning what fails into a ``StoreError`` (`readFailed`). Gives up after
    /// ``readTimeout`` (the pool waits for a connection as long as the database is away; a read only reads, so
    /// abandoning it is safe).
    func reading<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await self.client.withConnection { connection in try await work(connection) } }
                group.addTask {
                    try await Task.sleep(for: PostgresEventStore.readTimeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let outcome = try await group.next(), let result = outcome else {
                    throw StoreError(.readFailed, "no answer within \(PostgresEventStore.readTimeout)")
                }
                return result
            }
        } catch {
            throw StoreError(.readFailed, "the PostgreSQL store \(settings.location) cannot be read: \(PostgresEventStore.describe(error))")
        }
    }

    /// How long a read waits for the database.
    static let readTimeout = Duration.seconds(10)

    /// What went wrong, in words an operator can act on: the server's message and SQLSTATE, or the connection's
    /// failure; never the password (PostgresNIO's own description hides everything, which helps no one).
    static func describe(_ error: any Error) -> String {
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError ?? transaction.commitError ?? transaction.beginError { return describe(inner) }
        }
        if let store = error as? StoreError { return store.message }
        guard let psql = error as? PSQLError else { return "\(error)" }
        if let info = psql.serverInfo, let message = info[.message] {
            return "\(message) (SQLSTATE \(info[.sqlState] ?? "?"))"
        }
        if let underlying = psql.underlying {
            // A TCP connection comes back as NIO's error for every address it tried, a socket folder's as the error itself.
            let io = underlying as? IOError ?? (underlying as? NIOConnectionError)?.connectionErrors.lazy.compactMap { $0.error as? IOError }.first
            if let io {
                return "cannot connect: \(String(cString: strerror(io.errnoCode))) (is the server running, and store.postgres.host and port where it listens?)"
            }
            return "\(psql.code): \(underlying)"
        }
        switch psql.code {
        case .authMechanismRequiresPassword: return "the server asks for a password and store.postgres.password is not set"
        case .sslUnsupported: return "the server does not offer TLS, which store.postgres.tls: require asks for"
        case .serverClosedConnection: return "the server closed the connection"
        default: return "\(psql.code)"
        }
    }

    /// Set on every connection, so the server ends what hangs: a statement, a wait for the append lock, and above all
    /// a transaction left open by an instance cut off from it, which would hold the append lock of every instance.
    static let sessionSettings = [
        ("statement_timeout", "30s"), ("lock_timeout", "10s"), ("idle_in_transaction_session_timeout", "30s"),
    ]

    static func connectionConfiguration(_ settings: PostgresStore) throws -> PostgresConnection.Configuration {
        let database = settings.database ?? settings.user
        var configuration: PostgresConnection.Configuration
        if settings.usesUnixSocket {
            configuration = PostgresConnection.Configuration(
                unixSocketPath: settings.unixSocketPath, username: settings.user, password: settings.password, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch settings.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: opportunisticTLS))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration = PostgresConnection.Configuration(
                host: settings.host, port: settings.port, username: settings.user, password: settings.password, database: database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = sessionSettings
        return configuration
    }

    /// `tls: prefer` encrypts when the server offers it, without checking its certificate, as libpq's
    /// `sslmode=prefer` does (a server's default certificate is often self-signed); `require` checks it.
    static var opportunisticTLS: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return configuration
    }

    static func clientConfiguration(_ settings: PostgresStore) -> PostgresClient.Configuration {
        let database = settings.database ?? settings.user
        if settings.usesUnixSocket {
            return .init(unixSocketPath: settings.unixSocketPath, username: settings.user, password: settings.password, database: database)
        }
        let tls: PostgresClient.Configuration.TLS
        switch settings.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(opportunisticTLS)
        case .require: tls = .require(.makeClientConfiguration())
        }
        return .init(host: settings.host, port: settings.port, username: settings.user, password: settings.password, database: database, tls: tls)
    }
}
