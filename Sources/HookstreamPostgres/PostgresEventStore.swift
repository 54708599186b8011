public import HookstreamCore
public import Logging
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
/// The store is a `Service`: its ``run()`` runs the connection pool, the writer and the listener, and must run for the
/// store to append (appends made before it starts wait for it). It returns on graceful shutdown, after ``close()``.
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
        /// When the last commit failed (uptime, for ``refusalLapse``), until one succeeds.
        var lastCommitFailure: ContinuousClock.Instant?
        /// Whether a commit failed since the last catch-up: its outcome may be unknown (a connection lost after
        /// `COMMIT` was sent), so the next successful commit reads what this instance may have stored unawares.
        var mayHaveStoredUnawares = false
        /// Told once the writer has committed what was pending when the store was closed.
        var drained: [CheckedContinuation<Void, Never>] = []
        /// Whether the writer has ended (closed and drained): nothing is committed any more.
        var hasEnded = false
    }

    struct FollowState: Sendable {
        var cursor: (@Sendable () -> EventID)?
        var deliver: (@Sendable ([Event], EventID) -> Void)?
        /// Whether the listener's connection is up (readiness says so when it is not).
        var isListening = false
        var hasListened = false
    }

    /// `NOTIFY`'s channel: each commit says `<instance> <first id> <last id>` on it.
    static let channel = "hookstream_events"
    /// Advisory lock keys ("hookstrm" and the next): retention, and the schema's creation.
    static let retentionLock: Int64 = 0x686F_6F6B_7374_726E
    static let schemaLock: Int64 = retentionLock + 1
    /// Most events one page of the listener's catch-up reads.
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
    let follow = NIOLockedValueBox(FollowState())
    /// The highest id this instance knows was handed out (read at open, raised by appends and by the listener).
    let knownLastID: NIOLockedValueBox<EventID>
    /// Whether ``run()`` has started the pool (reads wait for it).
    let isRunning = NIOLockedValueBox(false)
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    public var description: String { "PostgresEventStore" }

    private init(
        settings: PostgresStore, lastID: EventID, refusalLapse: Duration, logger: Logger, now: @escaping @Sendable () -> Int64
    ) throws {
        self.settings = settings
        self.refusalLapse = refusalLapse
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
        (self.wakes, self.wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Connects to the database, creates the store's tables if they are missing (one instance at a time), and reads the
    /// last id handed out.
    /// - Throws: ``StoreError`` (`openFailed`) saying where it tried and what the server or the network said.
    /// - Parameter refusalLapse: how long a failed append keeps ``condition`` refusing (tests use a short one).
    public static func open(
        _ settings: PostgresStore, logger: Logger = Logger(label: "hookstream.store"), now: @escaping @Sendable () -> Int64 = WallClock.milliseconds,
        refusalLapse: Duration = .seconds(10)
    ) async throws(StoreError) -> PostgresEventStore {
        do {
            let configuration = try connectionConfiguration(settings)
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            let last: EventID
            do {
                last = try await connection.withTransaction(logger: logger) { connection in
                    try await PostgresSchema.migrate(connection, logger: logger)
                    return try await PostgresSchema.lastID(connection, logger: logger)
                }
                try? await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
            return try PostgresEventStore(settings: settings, lastID: last, refusalLapse: refusalLapse, logger: logger, now: now)
        } catch {
            throw StoreError(
                .openFailed,
                "the PostgreSQL store \(settings.location) cannot be opened: \(PostgresEventStore.describe(error))")
        }
    }

    // MARK: Running

    /// Runs the connection pool, the writer and the listener until graceful shutdown; before returning, waits for
    /// the appends already made (``close()`` refuses new ones).
    public func run() async throws {
        isRunning.withLockedValue { $0 = true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.runListener() }
            // The writer ends when the store is closed and has committed what waited; then the pool and the listener
            // go too.
            await withGracefulShutdownHandler {
                await self.runWriter()
            } onGracefulShutdown: {
                self.closeWriter()
            }
            // Closed and drained (StoreCloser closes the store before the group tells this service to stop): wait for
            // that word, since a service that returns before it is a failure to swift-service-lifecycle.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Commits what waits, all of it in one transaction, until the store is closed and nothing waits.
    private func runWriter() async {
        // A connection of its own, not the pool's: with the database away, an append fails at once (the pool would
        // hold it until a connection came back), and the next one connects anew.
        var connection: PostgresConnection?
        for await _ in wakes {
            while true {
                let group = writer.withLockedValue { state in
                    defer { state.pending.removeAll() }
                    return state.pending
                }
                if group.isEmpty { break }
                await commit(group, on: &connection)
            }
            let done = writer.withLockedValue { state -> [CheckedContinuation<Void, Never>]? in
                guard state.isClosed, state.pending.isEmpty else { return nil }
                state.hasEnded = true
                defer { state.drained.removeAll() }
                return state.drained
            }
            if let done {
                for continuation in done { continuation.resume() }
                wake.finish()
            }
        }
        try? await connection?.close()
        // Ended by cancellation rather than by close: what still waits is failed, and close() returns.
        let (orphans, drained) = writer.withLockedValue { state in
            state.isClosed = true
            state.hasEnded = true
            defer {
                state.pending.removeAll()
                state.drained.removeAll()
            }
            return (state.pending, state.drained)
        }
        for append in orphans { append.completion(.failure(closedError)) }
        for continuation in drained { continuation.resume() }
    }

    private func closeWriter() {
        writer.withLockedValue { $0.isClosed = true }
        wake.yield()
    }

    /// Refuses appends from now on and waits until those already made are committed (or failed).
    public func close() async throws {
        let running = isRunning.withLockedValue { $0 }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = writer.withLockedValue { state -> Bool in
                state.isClosed = true
                guard running, !state.hasEnded else { return true }
                state.drained.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
            wake.yield()
        }
        if !running {
            // Never ran: no writer will answer what waits.
            let orphans = writer.withLockedValue { state in
                defer { state.pending.removeAll() }
                return state.pending
            }
            for append in orphans { append.completion(.failure(closedError)) }
        }
    }

    var closedError: StoreError { StoreError(.unavailable, "the PostgreSQL store \(settings.location) is closed") }

    // MARK: Appending

    public func append(batches: [EventBatch], completion: @escaping @Sendable (Result<[[Event]], any Error>) -> Void) {
        let accepted = writer.withLockedValue { state -> Bool in
            guard !state.isClosed else { return false }
            state.pending.append(PendingAppend(batches: batches, completion: completion))
            return true
        }
        guard accepted else { return completion(.failure(closedError)) }
        wake.yield()
    }

    /// One statement, so one round trip, for every waiting append (``PostgresSchema/append(_:deliveries:time:instance:)``):
    /// the ids after the last, the events, the deliveries and the notification; then each append is told, in order.
    private func commit(_ group: [PendingAppend], on writerConnection: inout PostgresConnection?) async {
        let timestamp = now()
        var drafts: [EventDraft] = []
        var deliveries: [(key: DeliveryKey, first: Int, count: Int)] = []
        for append in group {
            for batch in append.batches {
                if let key = batch.delivery { deliveries.append((key, drafts.count, batch.drafts.count)) }
                drafts += batch.drafts
            }
        }
        do {
            var base: EventID = 0
            if !drafts.isEmpty || !deliveries.isEmpty {
                if writerConnection == nil || writerConnection?.isClosed == true {
                    writerConnection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 2, logger: logger)
                }
                base = try await PostgresSchema.append(
                    drafts, deliveries: deliveries, time: timestamp, instance: instance, writerConnection!, logger: logger)
            }
            var next = base + 1
            let numbered = group.map { append in
                append.batches.map { batch in
                    batch.drafts.map { draft in
                        defer { next += 1 }
                        return Event(id: next, draft: draft, timestamp: timestamp)
                    }
                }
            }
            let newest = numbered.lazy.flatMap { $0 }.flatMap { $0 }.last?.id
            if let newest { knownLastID.withLockedValue { $0 = max($0, newest) } }
            let (recovered, catchUpNeeded) = writer.withLockedValue { state in
                defer {
                    state.lastCommitFailure = nil
                    state.mayHaveStoredUnawares = false
                }
                return (state.lastCommitFailure != nil, state.mayHaveStoredUnawares)
            }
            if recovered { logger.notice("The PostgreSQL store takes events again", metadata: ["store": "\(settings.location)"]) }
            for (append, batches) in zip(group, numbered) { append.completion(.success(batches)) }
            // A failed commit may have been stored all the same; its ids would hold back this one's in the brokers
            // of every instance, this one's included (the listener passes over this instance's notifications).
            if catchUpNeeded, let connection = writerConnection { try? await catchUp(on: connection) }
        } catch {
            if let broken = writerConnection {
                writerConnection = nil
                try? await broken.close()
            }
            let first = writer.withLockedValue { state in
                defer {
                    state.lastCommitFailure = .now
                    state.mayHaveStoredUnawares = true
                }
                return state.lastCommitFailure == nil
            }
            let message = PostgresEventStore.describe(error)
            if first {
                logger.error("The PostgreSQL store cannot store events", metadata: ["store": "\(settings.location)", "error": "\(message)"])
            }
            let failure = StoreError(.writeFailed, "the PostgreSQL store \(settings.location) cannot store events: \(message)")
            for append in group { append.completion(.failure(failure)) }
        }
    }

    // MARK: Deliveries

    public func delivery(_ key: DeliveryKey, since: Int64) async throws -> DeliveryRecord? {
        try await reading { connection in
            let rows = try await connection.query(
                """
                SELECT time, event_ids, topics FROM hookstream_deliveries
                WHERE source = \(key.source) AND id = \(key.id) AND time >= \(since)
                """, logger: self.logger)
            for try await (time, ids, topics) in rows.decode((Int64, [Int64], [String]).self) {
                return DeliveryRecord(ids: ids.map { EventID($0) }, topics: topics, time: time)
            }
            return nil
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
            if let io = underlying as? IOError {
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
