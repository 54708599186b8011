import Dispatch
import Foundation
import GRDB
import GRDBSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import Metrics
import NIOConcurrencyHelpers

/// The embedded, durable ``EventStore``: one SQLite file in WAL mode.
///
/// With `store.sync: normal` (the default) an append is one `write(2)` to an ``AppendLog`` beside the database
/// (`<path>-appendlog`), on the caller's thread, and returns then: the events are in the OS, as a commit to SQLite's
/// WAL would have them with `synchronous = NORMAL`, and survive a crash of the process. A writer queue applies the
/// log to SQLite behind it, many appends per transaction (after ``applyDelay``, or at once past a batch of events,
/// by count or by bytes: ``ApplyLimits``), and empties the log once it holds nothing SQLite lacks. Reads see both:
/// events not yet applied are kept in memory. Opening the store applies whatever a crash left in the log. One write
/// instead of a SQLite commit per publish: a commit made 4 `pwrite`s and 6 `fcntl`s, and ran SQLite's code cold at
/// every event.
///
/// With `store.sync: full` every append is a SQLite transaction, fsynced, and appends are grouped: while one
/// transaction commits, new appends queue up and the next transaction takes them all (group commit).
///
/// Ids are assigned here, in append order. The highest id is the newest row's; before retention deletes rows it
/// records that id in `meta`, so ids never go back, even after pruning the newest event.
///
/// ```swift
/// let store = try SQLiteEventStore(path: "var/hookstream.db", synchronous: .normal)
/// let events = try await store.append([draft])   // durable now
/// ```
public final class SQLiteEventStore: EventStore {
    /// How hard a commit waits for the disk (`store.sync`).
    public enum Synchronous: String, Sendable, CaseIterable {
        /// Survives a crash of the process (the default): the commit is in the OS before it is acknowledged.
        case normal
        /// Also survives power loss: every commit is fsynced.
        case full
    }

    private struct PendingAppend {
        let batches: [EventBatch]
        let completion: @Sendable (Result<[[Event]], any Error>) -> Void
    }

    private struct WriterState {
        var pending: [PendingAppend] = []
        /// Other work for the writer connection (retention, close), run between groups.
        var jobs: [@Sendable () -> Void] = []
        /// The writer connection is in use by the writer queue. Whoever holds it also takes what queues up
        /// meanwhile, so nothing waits for a connection that is idle.
        var isBusy = false
        /// Transactions committed for appends (and applies of the append log), for tests: fewer than appends means
        /// grouping works.
        var commits = 0
        /// A checkpoint is among the jobs.
        var isCheckpointQueued = false
        /// `close()` has started: writer work queued from now on (a checkpoint that its last apply queued, a
        /// retention step, a late apply) must not touch the connections it closes.
        var isClosed = false
        /// Checkpoints run, for tests.
        var checkpoints = 0
        /// The most events one transaction has taken, for tests.
        var largestCommit = 0
        /// Topics that got events since retention last found them within its bound: only these can be over it, so a
        /// pass counts these, not every topic (a count walks up to `max_events_per_topic` index entries).
        var grownTopics: Set<String> = []
        /// The `max_events_per_topic` retention last counted against; `Int.max` before the first pass. A lower one
        /// (a reload) has every topic counted again.
        var countedBound = Int.max
        /// Topics the last retention step counted, for tests.
        var lastCountedTopics = 0

        /// Takes the writer when nobody holds it; `false` when its holder will also take what was just queued.
        mutating func claim() -> Bool {
            if isBusy { return false }
            isBusy = true
            return true
        }
    }

    /// What ``condition`` reports: set where a failure starts or ends, under a lock of its own (the log's lock is held
    /// across a `write(2)`, the writer across a transaction: a readiness probe must not wait behind a stalled disk).
    private struct Health {
        /// `sync: normal`: applies of the append log to SQLite fail.
        var applyFailing = false
        /// `sync: normal`: the events waiting for SQLite reached ``ApplyLimits``' maximum (publishes are refused).
        var waitingFull = false
        /// When the last publish was refused because its write failed (the append log's, or with `sync: full` the
        /// commit), in uptime nanoseconds, until a write succeeds again. Nothing else tries a write meanwhile, so it
        /// counts as refusing for ``refusalLapse`` only: a balancer that takes the daemon out of rotation on `503`
        /// would otherwise send it no publish that could show the disk is back.
        var lastWriteFailure: UInt64?
    }

    /// How long a failed write keeps ``condition`` refusing (then degraded until a write succeeds), in nanoseconds.
    let refusalLapse: UInt64

    /// What the store knows without reading the file: the last id, and every topic that has events (stored, or
    /// waiting in the append log). A topic retention left with no event is not in it (it is forgotten). Pruning
    /// marks are read from SQLite (``prunedThrough(matching:)``), where every topic keeps its row.
    private struct Catalog {
        var lastID: EventID
        var topics: Set<String>
    }

    /// The append log and what of it SQLite does not have yet (`store.sync: normal`).
    private struct LogState {
        let file: AppendLog
        /// Entries written to the log and not yet applied to SQLite, in log order.
        var unapplied: [AppendLogEntry] = []
        var unappliedEvents = 0
        /// The unapplied events' ``Event/pageBytes``: what holding them in memory costs.
        var unappliedBytes = 0
        /// An apply is due (scheduled after ``SQLiteEventStore/applyDelay``, or queued for the writer).
        var isApplyScheduled = false
        /// Why the last apply failed, while applies keep failing: appends are refused past ``ApplyLimits``.
        var applyFailure: String?
        /// Applies that failed since the store opened (tests count the retries).
        var failedApplies = 0
        /// The last append's write to the log failed (``Health/lastWriteFailure`` is set; read without its lock).
        var appendFailed = false
        /// Appends are refused for the events waiting (mirrors ``Health/waitingFull``; see ``setWaitingFull(_:_:)``).
        var waitingFull = false
        /// Entries written to the log, for tests.
        var appends = 0
        /// `close()` emptied the log: later appends are refused, not left in the log of a closed store.
        var isClosed = false
    }

    /// The file.
    public let path: String
    /// Held, locked, for the store's life (`<path>-lock`): one process at a time. Released (and set to -1) once, by
    /// `close()` or when the store goes away unclosed.
    private let lockDescriptor: NIOLockedValueBox<CInt>
    private let logger: Logger
    private let pool: DatabasePool
    /// Appends go through their own connection (see ``SQLiteAppendConnection``); GRDB's pool does the rest.
    private let appender: SQLiteAppendConnection
    private let writerQueue = DispatchQueue(label: "hookstream.sqlite.writer")
    /// How long each SQLite transaction of events takes, an apply of the append log or a `sync: full` group
    /// (`hookstream_store_commit_seconds` when metrics are enabled).
    private let commitDuration = Timer(label: "hookstream_store_commit_seconds")
    private let writer = NIOLockedValueBox(WriterState())
    private let catalog: NIOLockedValueBox<Catalog>
    private let health = NIOLockedValueBox(Health())
    private let now: @Sendable () -> Int64
    /// The append log, with `store.sync: normal`; `nil` with `full`, where every append commits to SQLite.
    private let log: NIOLockedValueBox<LogState>?
    /// How long appended events wait in the log before the writer applies them to SQLite: the longer, the more
    /// share one transaction (at 200 events/s, 200 per transaction instead of 1).
    let applyDelay: DispatchTimeInterval
    /// ``applyDelay`` outside tests: one second. Each apply has a cost of its own, whatever it carries (a timer and
    /// two thread wake-ups, a transaction, the log's truncation and its regrowth), and at a few hundred publishes a
    /// second that cost is a publish's: with 100 ms a publish at 200/s cost 15–50 µs of CPU more (bench/fanout/README.md).
    /// The wait costs nothing else: replays read unapplied events from memory, a batch's worth (``ApplyLimits``)
    /// is applied at once, and a crash or a stop applies the log.
    static let defaultApplyDelay: DispatchTimeInterval = .seconds(1)
    /// When unapplied events make an apply start at once, and when they make appends be refused.
    let applyLimits: ApplyLimits
    /// Log bytes past which the log is emptied even under constant load (an apply then holds appends for its
    /// transaction); below, it is emptied only when an apply finds nothing newer.
    static let logDrainBytes = 64 << 20
    /// Rows deleted per retention transaction, so publishers are never held up for long.
    static let pruneChunk = 5_000
    /// Topics above which a read scans by id instead of seeking each topic.
    static let seekTopicLimit = 32

    private static let selectColumns = "id, topic, type, data, is_json, time, source"

    /// Opens (creating if needed) the store at `path`.
    /// - Parameters:
    ///   - synchronous: ``Synchronous/normal`` or ``Synchronous/full``.
    ///   - now: the wall clock in ms since the epoch (a seam for tests).
    /// - Throws: ``StoreError`` (`.unavailable`) when the folder is missing or not writable, or the file is unusable.
    ///   - logger: where failures of the writer thread are told (an apply that fails, and its recovery).
    public convenience init(
        path: String, synchronous: Synchronous = .normal, logger: Logger = Logger(label: "hookstream.store"),
        now: @escaping @Sendable () -> Int64 = WallClock.milliseconds
    ) throws(StoreError) {
        try self.init(path: path, synchronous: synchronous, applyDelay: SQLiteEventStore.defaultApplyDelay, logger: logger, now: now)
    }

    /// Opens the store with `applyDelay` as the append log's delay (tests use a long one to look at a log that was
    /// not applied, as after a crash), `applyLimits` and `refusalLapse` (tests use small ones).
    init(
        path: String, synchronous: Synchronous, applyDelay: DispatchTimeInterval, applyLimits: ApplyLimits = ApplyLimits(),
        refusalLapse: Duration = .seconds(10), logger: Logger = Logger(label: "hookstream.store"),
        now: @escaping @Sendable () -> Int64 = WallClock.milliseconds
    ) throws(StoreError) {
        self.refusalLapse = UInt64(refusalLapse.nanoseconds)
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StoreError(.unavailable, "the store folder '\(folder)' does not exist: create it, or point store.path elsewhere")
        }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw StoreError(.unavailable, "store.path '\(path)' is a folder: give the database file's path in it (\(path)/hookstream.db, say)")
        }
        guard access(folder, W_OK) == 0 else {
            throw StoreError(.unavailable, "the store folder '\(folder)' is not writable by this user: fix its permissions, or point store.path elsewhere")
        }
        // Two processes on one store would each number ids from their own memory, and each would apply and empty the
        // other's append log: duplicate ids and acknowledged events lost. The lock goes with the process. Its name,
        // and the log's, come from the database's real path: SQLite follows a symbolic link, and a second daemon
        // given a link to the same database must find the same lock.
        let realPath = SQLiteEventStore.resolvingLinks(path, folder: folder)
        let lockPath = realPath + "-lock"
        let lockDescriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockDescriptor >= 0 else {
            let code = errno
            // Permissions and a read-only file system are the setup's; anything else (a full disk, no inodes, I/O)
            // may pass.
            let kind: StoreError.Kind = code == EACCES || code == EROFS || code == ENOENT || code == EPERM ? .unavailable : .openFailed
            throw StoreError(kind, "cannot create the store's lock file '\(lockPath)': \(String(cString: strerror(code)))")
        }
        guard flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK ? "" : " (\(String(cString: strerror(errno))))"
            closeDescriptor(lockDescriptor)
            throw StoreError(
                .inUse,
                "the SQLite store '\(path)' is in use by another hookstream process\(reason): stop it, or give this one another store.path")
        }
        self.lockDescriptor = NIOLockedValueBox(lockDescriptor)
        self.logger = logger
        self.path = path
        self.now = now
        self.applyDelay = applyDelay
        precondition(applyLimits.batchEvents > 0 && applyLimits.batchBytes > 0)
        self.applyLimits = applyLimits
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = "hookstream"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous == .full ? "FULL" : "NORMAL")")
        }
        // The events are every webhook's body: readable by the daemon's user only, whatever the umask (systemd's
        // unit sets 0077; a shell's is usually 022). SQLite gives its -wal and -shm files the database's permissions.
        // A file that exists keeps the permissions its operator gave it.
        let created = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if created >= 0 { closeDescriptor(created) }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.write { db in try SQLiteEventStore.migrate(db) }
            var loaded = try pool.read { db -> Catalog in
                let recorded = try EventID.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'last_id'") ?? 0
                let newest = try EventID.fetchOne(db, sql: "SELECT max(id) FROM events") ?? 0
                let lastID = max(recorded, newest)
                // Topics with events only: the others were forgotten (or emptied before the store forgot topics).
                let topics = try String.fetchSet(
                    db, sql: "SELECT name FROM topics WHERE EXISTS (SELECT 1 FROM events WHERE events.topic = topics.name)")
                return Catalog(lastID: lastID, topics: topics)
            }
            appender = try SQLiteAppendConnection(path: path, synchronousFull: synchronous == .full)
            let logPath = realPath + "-appendlog"
            if synchronous == .normal {
                let file = try AppendLog(path: logPath)
                try SQLiteEventStore.recover(file, into: appender, catalog: &loaded, logger: logger, path: path)
                log = NIOLockedValueBox(LogState(file: file))
            } else {
                // A log left by a crash under `store.sync: normal` still holds acknowledged events.
                if access(logPath, F_OK) == 0 {
                    try SQLiteEventStore.recover(try AppendLog(path: logPath), into: appender, catalog: &loaded, logger: logger, path: path)
                    unlink(logPath)
                }
                log = nil
            }
            catalog = NIOLockedValueBox(loaded)
        } catch {
            closeDescriptor(lockDescriptor)  // no deinit runs for a store that never finished opening
            throw StoreError(.openFailed, "cannot open the SQLite store '\(path)': \(SQLiteEventStore.describe(error))")
        }
        installCheckpointHook()
    }

    /// Applies what a crash left in the append log (the entries SQLite does not have), then empties it.
    private static func recover(
        _ file: AppendLog, into appender: SQLiteAppendConnection, catalog: inout Catalog, logger: Logger, path: String
    ) throws {
        let (entries, whole) = try file.readEntries()
        // Applies are in log order and whole, so SQLite has a prefix of the entries: those up to its last id.
        let missing = entries.filter { ($0.events.first?.id ?? 0) > catalog.lastID }
        if !missing.isEmpty {
            try appender.append(missing)
            for entry in missing {
                if let last = entry.events.last { catalog.lastID = max(catalog.lastID, last.id) }
                for event in entry.events { catalog.topics.insert(event.topic) }
            }
            let events = missing.reduce(0) { $0 + $1.events.count }
            logger.notice(
                "The SQLite store took \(events) event(s) from its append log, written before the daemon last stopped without applying them",
                metadata: ["store.path": "\(path)", "events": "\(events)", "last_id": "\(catalog.lastID)"])
        }
        if whole < file.size {
            // Said, not silent: the operator may be looking for an event of that moment.
            logger.warning(
                "The SQLite store's append log ended in an entry cut short or damaged (\(file.size - whole) bytes), from a crash or power loss while it was written: it is dropped, and the ids of the events before it are kept",
                metadata: ["store.path": "\(path)", "dropped_bytes": "\(file.size - whole)", "last_id": "\(catalog.lastID)"])
        }
        try file.truncate()
    }

    private static func migrate(_ db: Database) throws {
        let listsForgottenTopics = try db.tableExists("forgotten_topics")
        try db.execute(
            sql: """
                CREATE TABLE IF NOT EXISTS events (
                    id INTEGER PRIMARY KEY,
                    topic TEXT NOT NULL,
                    type TEXT NOT NULL,
                    data TEXT NOT NULL,
                    is_json INTEGER NOT NULL,
                    time INTEGER NOT NULL,
                    source TEXT NOT NULL
                );
                CREATE INDEX IF NOT EXISTS events_by_topic ON events(topic, id);
                CREATE TABLE IF NOT EXISTS topics (
                    name TEXT PRIMARY KEY,
                    pruned_through INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS deliveries (
                    source TEXT NOT NULL,
                    id TEXT NOT NULL,
                    time INTEGER NOT NULL,
                    event_ids TEXT NOT NULL,
                    topics TEXT NOT NULL,
                    PRIMARY KEY (source, id)
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries(time);
                INSERT OR IGNORE INTO meta(key, value) VALUES ('last_id', 0);
                CREATE TABLE IF NOT EXISTS forgotten_topics (
                    name TEXT PRIMARY KEY,
                    pruned_through INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS forgotten_topics_by_mark ON forgotten_topics(pruned_through);
                """)
        if !listsForgottenTopics {
            // A store made before the list: its forgotten topics are the rows with no event.
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO forgotten_topics(name, pruned_through)
                    SELECT name, pruned_through FROM topics WHERE NOT EXISTS (SELECT 1 FROM events WHERE events.topic = topics.name)
                    """)
        }
    }

    // MARK: Appending (group commit)

    public func append(batches: [EventBatch], completion: @escaping @Sendable (Result<[[Event]], any Error>) -> Void) {
        guard batches.contains(where: { !$0.drafts.isEmpty }) else { return completion(.success(batches.map { _ in [] })) }
        if let log { return completion(appendToLog(batches, log)) }
        let mustSchedule = writer.withLockedValue { state in
            state.pending.append(PendingAppend(batches: batches, completion: completion))
            return state.claim()
        }
        if mustSchedule { writerQueue.async { self.runWriter() } }
    }

    /// Refusing while publishes are refused: the events waiting for SQLite fill their bound, or the last publish's
    /// write failed (the append log's, or with `sync: full` the commit) within ``refusalLapse`` (degraded after it,
    /// until a write succeeds). Degraded while applies of the append log fail and accepted events wait in it.
    public var condition: StoreCondition {
        let health = self.health.withLockedValue { $0 }
        if let failed = health.lastWriteFailure {
            let since = DispatchTime.now().uptimeNanoseconds &- failed
            if since < refusalLapse { return .refusing("the event store cannot write; publishes are refused until it can") }
            return .degraded("the event store's last write failed \(since / 1_000_000_000) s ago, and none was tried since")
        }
        if health.waitingFull {
            return .refusing(
                health.applyFailing
                    ? "the event store cannot write its database, and the events waiting for it fill its memory; publishes are refused"
                    : "the event store's database takes events more slowly than they come; publishes are refused until it catches up")
        }
        if health.applyFailing { return .degraded("the event store cannot write its database; accepted events wait in its append log") }
        return .healthy
    }

    /// Records whether the waiting events fill their bound: in the log's state, and in ``health`` when that changes.
    private func setWaitingFull(_ full: Bool, _ state: inout LogState) {
        guard state.waitingFull != full else { return }
        state.waitingFull = full
        health.withLockedValue { $0.waitingFull = full }
    }

    /// Numbers `batches`, writes them to the append log and keeps them for the next apply (`store.sync: normal`).
    private func appendToLog(_ batches: [EventBatch], _ log: NIOLockedValueBox<LogState>) -> Result<[[Event]], any Error> {
        let (result, schedule): (Result<[[Event]], any Error>, DispatchTimeInterval?) = log.withLockedValue { state in
            if state.isClosed { return (.failure(StoreError(.unavailable, "the SQLite store '\(path)' is closed")), nil) }
            if applyLimits.areReached(events: state.unappliedEvents, bytes: state.unappliedBytes) {
                setWaitingFull(true, &state)
                let reason =
                    state.applyFailure
                    ?? "\(state.unappliedEvents) events (\(state.unappliedBytes) bytes) wait in memory for SQLite to take them"
                return (.failure(StoreError(.writeFailed, "the SQLite store '\(path)' cannot write: \(reason)")), nil)
            }
            // Numbered under the log's lock: the log and the ids keep the same order.
            let numbered = number(batches)
            let entry = numbered.entry
            do {
                try state.file.append(entry)
            } catch {
                state.appendFailed = true
                health.withLockedValue { $0.lastWriteFailure = DispatchTime.now().uptimeNanoseconds }
                return (.failure(StoreError(.writeFailed, "the SQLite store '\(path)' cannot write its append log: \(error)")), nil)
            }
            if state.appendFailed {
                state.appendFailed = false
                health.withLockedValue { $0.lastWriteFailure = nil }
            }
            record(numbered)
            state.unapplied.append(entry)
            let (events, bytes) = (state.unappliedEvents, state.unappliedBytes)
            state.unappliedEvents += entry.events.count
            state.unappliedBytes += entry.events.pageBytes
            state.appends += 1
            // The next append is refused: say so now.
            if applyLimits.areReached(events: state.unappliedEvents, bytes: state.unappliedBytes) { setWaitingFull(true, &state) }
            // Each time the unapplied events cross a multiple of a batch, by count or by bytes, an apply starts now.
            if events / applyLimits.batchEvents < state.unappliedEvents / applyLimits.batchEvents
                || bytes / applyLimits.batchBytes < state.unappliedBytes / applyLimits.batchBytes
            {
                return (.success(numbered.batches), .nanoseconds(0))
            }
            guard !state.isApplyScheduled else { return (.success(numbered.batches), nil) }
            state.isApplyScheduled = true
            return (.success(numbered.batches), applyDelay)
        }
        if let schedule { scheduleApply(after: schedule) }
        return result
    }

    private func scheduleApply(after delay: DispatchTimeInterval) {
        writerQueue.asyncAfter(deadline: .now() + delay) {
            let mustRun = self.writer.withLockedValue { state in
                state.jobs.append { self.applyLog() }
                return state.claim()
            }
            if mustRun { self.runWriter() }
        }
    }

    /// A writer job: applies the oldest unapplied entries of the log to SQLite in one transaction, as many as make
    /// an apply batch (``ApplyLimits``), then empties the log when nothing newer came meanwhile (or, past
    /// ``logDrainBytes``, holds appends while it applies the rest). More than a batch waiting goes on at once, in
    /// further transactions: one transaction per batch keeps the WAL bounded (a checkpoint can run between two),
    /// and the SQLite writer lock is held for one batch at a time. Returns whether it applied a batch and more waits.
    ///
    /// - Parameter scheduled: whether this is the scheduled apply (or its retry), which schedules the next one. A
    ///   retention pass applies too, and leaves the next to the one already scheduled: each pass used to start one
    ///   more retry chain while SQLite kept failing (a full disk), one more apply a second per pass, for good.
    @discardableResult
    private func applyLog(scheduled: Bool = true) -> Bool {
        guard let log, !writer.withLockedValue({ $0.isClosed }) else { return false }
        var chainPending = false
        let entries = log.withLockedValue { state in
            if state.unapplied.isEmpty { state.isApplyScheduled = false }
            chainPending = !scheduled && state.isApplyScheduled
            return Array(state.unapplied.prefix(applyLimits.entriesInBatch(state.unapplied)))
        }
        guard !entries.isEmpty else { return false }
        var failure: String?
        do {
            try applyToSQLite(entries)
        } catch {
            failure = SQLiteEventStore.describe(error)
        }
        var recovered = false
        var firstFailure = false
        let retry: DispatchTimeInterval? = log.withLockedValue { state in
            guard failure == nil else {
                // Kept in the log and in memory: the next try may succeed (space came back). Appends go on until
                // the unapplied events reach applyLimits' maximum.
                firstFailure = state.applyFailure == nil
                state.applyFailure = failure
                state.failedApplies += 1
                state.isApplyScheduled = true
                return .seconds(1)
            }
            recovered = state.applyFailure != nil
            state.applyFailure = nil
            state.unapplied.removeFirst(entries.count)
            for entry in entries {
                state.unappliedEvents -= entry.events.count
                state.unappliedBytes -= entry.events.pageBytes
            }
            if !state.unapplied.isEmpty, state.file.size >= SQLiteEventStore.logDrainBytes {
                // Appends never paused long enough to empty the log: apply the rest now, holding them meanwhile.
                if (try? applyToSQLite(state.unapplied)) != nil {
                    state.unapplied.removeAll()
                    state.unappliedEvents = 0
                    state.unappliedBytes = 0
                }
            }
            if !applyLimits.areReached(events: state.unappliedEvents, bytes: state.unappliedBytes) { setWaitingFull(false, &state) }
            // A failed truncation leaves entries SQLite has: opening the store skips them.
            if state.unapplied.isEmpty { try? state.file.truncate() }
            state.isApplyScheduled = !state.unapplied.isEmpty
            if state.unapplied.isEmpty { return nil }
            return state.unappliedEvents >= applyLimits.batchEvents || state.unappliedBytes >= applyLimits.batchBytes ? .nanoseconds(0) : applyDelay
        }
        if firstFailure { health.withLockedValue { $0.applyFailing = true } }
        if recovered { health.withLockedValue { $0.applyFailing = false } }
        // Publishes are still acknowledged meanwhile (the log has them), so the operator learns of it here first.
        if firstFailure, let failure {
            logger.error(
                "The SQLite store cannot apply its append log; retrying every second, and events wait in memory until it can",
                metadata: ["store.path": "\(path)", "error": "\(failure)"])
        }
        if recovered { logger.notice("The SQLite store applies its append log again", metadata: ["store.path": "\(path)"]) }
        if let retry, !chainPending { scheduleApply(after: retry) }
        return failure == nil && retry != nil
    }

    private func applyToSQLite(_ entries: [AppendLogEntry]) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        try appender.append(entries)
        // Commits that were made: a failed apply is not one.
        commitDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds &- started))
        let events = entries.reduce(0) { $0 + $1.events.count }
        writer.withLockedValue { state in
            state.commits += 1
            state.largestCommit = max(state.largestCommit, events)
            for entry in entries {
                var previous: String?
                for event in entry.events where event.topic != previous {
                    state.grownTopics.insert(event.topic)
                    previous = event.topic
                }
            }
        }
    }

    /// Batches numbered from the catalog's next id, and the entry that stores them: their events, the topics they
    /// introduce and the deliveries they answer.
    private struct Numbered {
        var batches: [[Event]]
        var entry: AppendLogEntry
        var lastID: EventID
    }

    private func number(_ batches: [EventBatch]) -> Numbered {
        let timestamp = now()
        let (firstID, known) = catalog.withLockedValue { ($0.lastID + 1, $0.topics) }
        var nextID = firstID
        var entry = AppendLogEntry(events: [], newTopics: [], deliveries: [])
        let numbered = batches.map { batch in
            var events: [Event] = []
            events.reserveCapacity(batch.drafts.count)
            for draft in batch.drafts {
                events.append(Event(id: nextID, draft: draft, timestamp: timestamp))
                nextID += 1
                if !known.contains(draft.topic), !entry.newTopics.contains(draft.topic) { entry.newTopics.append(draft.topic) }
            }
            if let delivery = batch.delivery, !events.isEmpty {
                entry.deliveries.append(AppendLogEntry.Delivery(key: delivery, record: DeliveryRecord(events: events, time: timestamp)))
            }
            entry.events += events
            return events
        }
        return Numbered(batches: numbered, entry: entry, lastID: nextID - 1)
    }

    /// Makes numbered events count as stored: the next append numbers after them, reads know their topics.
    private func record(_ numbered: Numbered) {
        catalog.withLockedValue { catalog in
            catalog.lastID = numbered.lastID
            catalog.topics.formUnion(numbered.entry.newTopics)
        }
    }

    /// On the writer queue, holding the writer: commits groups and runs jobs, one at a time, until nothing is left.
    /// Appends already waiting go before each job, so a `close()` never fails an append that was made before it;
    /// a checkpoint goes before the jobs queued ahead of it (see ``walGrew(to:)``).
    private func runWriter() {
        while true {
            let group = takePending()
            if !group.isEmpty { commit(group) }
            if let job = writer.withLockedValue({ $0.jobs.isEmpty ? nil : $0.jobs.removeFirst() }) {
                job()
                continue
            }
            if releaseWriterIfIdle() { return }
        }
    }

    private func takePending() -> [PendingAppend] {
        writer.withLockedValue { state in
            let group = state.pending
            state.pending.removeAll(keepingCapacity: true)
            return group
        }
    }

    /// Gives the writer up when no work is waiting; returns whether it did.
    private func releaseWriterIfIdle() -> Bool {
        writer.withLockedValue { state in
            guard state.pending.isEmpty, state.jobs.isEmpty else { return false }
            state.isBusy = false
            return true
        }
    }

    /// Commits one group in one transaction (`store.sync: full`), then completes each of its appends (with the
    /// error if it failed).
    private func commit(_ group: [PendingAppend]) {
        // An append after close() would run on finalized statements.
        if writer.withLockedValue({ $0.isClosed }) {
            let closed = StoreError(.unavailable, "the SQLite store '\(path)' is closed")
            for append in group { append.completion(.failure(closed)) }
            return
        }
        // Numbered as one run of batches; the catalog moves only once they are committed.
        let numbered = number(group.flatMap(\.batches))
        do {
            try applyToSQLite([numbered.entry])
            record(numbered)
            health.withLockedValue { $0.lastWriteFailure = nil }
            var rest = numbered.batches[...]
            for append in group {
                append.completion(.success(Array(rest.prefix(append.batches.count))))
                rest = rest.dropFirst(append.batches.count)
            }
        } catch {
            health.withLockedValue { $0.lastWriteFailure = DispatchTime.now().uptimeNanoseconds }
            let failure = StoreError(.writeFailed, "the SQLite store '\(path)' cannot write: \(SQLiteEventStore.describe(error))")
            for append in group { append.completion(.failure(failure)) }
        }
    }

    // MARK: Deliveries

    public func delivery(_ key: DeliveryKey, since: Int64) async throws -> DeliveryRecord? {
        // Deliveries not yet applied are the newest: a match there is the one SQLite would have.
        let recent = log?.withLockedValue { state in
            state.unapplied.lazy.flatMap(\.deliveries).last { $0.key == key && $0.record.time >= since }
        }
        if let recent { return recent.record }
        do {
            return try await pool.read { db -> DeliveryRecord? in
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT time, event_ids, topics FROM deliveries WHERE source = ? AND id = ? AND time >= ?",
                        arguments: [key.source, key.id, since])
                else { return nil }
                return SQLiteEventStore.deliveryRecord(time: row[0], ids: row[1], topics: row[2])
            }
        } catch {
            throw StoreError(.readFailed, "reading the SQLite store '\(path)' failed: \(SQLiteEventStore.describe(error))")
        }
    }

    /// A delivery's ids are stored as `1,2,3` and its topics as a JSON array.
    static func deliveryColumns(_ record: DeliveryRecord) -> (ids: String, topics: String) {
        (record.ids.map(String.init).joined(separator: ","), JSONValue.array(record.topics.map(JSONValue.string)).jsonText)
    }

    private static func deliveryRecord(time: Int64, ids: String, topics: String) -> DeliveryRecord {
        let topicList: [String]
        if case .array(let values) = try? JSONParser.parse(topics) {
            topicList = values.compactMap(\.stringValue)
        } else {
            topicList = []
        }
        return DeliveryRecord(ids: ids.split(separator: ",").compactMap { EventID($0) }, topics: topicList, time: time)
    }

    // MARK: Checkpoints

    /// WAL pages after which a checkpoint is due (SQLite's own default).
    static let checkpointPages = 1_000

    /// Takes checkpoints off the commit path. SQLite's automatic checkpoint runs inside whichever commit takes the
    /// WAL past the mark, with an fsync, holding up that commit. A WAL hook on the append connection replaces it:
    /// past the mark it queues a checkpoint as writer work, which runs on the writer queue between groups.
    /// It runs on GRDB's writer connection while no append runs, so it completes and the WAL starts over.
    private func installCheckpointHook() {
        sqlite3_wal_hook(
            appender.handle,
            { context, _, _, pages in
                // Only called during this store's own commits, so the store is alive.
                guard let context else { return SQLITE_OK }
                Unmanaged<SQLiteEventStore>.fromOpaque(context).takeUnretainedValue().walGrew(to: Int(pages))
                return SQLITE_OK
            },
            Unmanaged.passUnretained(self).toOpaque())
    }

    /// On the committing thread, inside the commit: only queues work. The checkpoint goes first among the jobs: an
    /// apply of the log queued meanwhile then writes to a WAL that starts over, rather than growing it by a whole
    /// transaction more (under load, two applies behind one another took the WAL past 12 MiB).
    private func walGrew(to pages: Int) {
        guard pages >= SQLiteEventStore.checkpointPages else { return }
        writer.withLockedValue { state in
            guard !state.isCheckpointQueued, !state.isClosed else { return }
            state.isCheckpointQueued = true
            state.jobs.insert({ self.checkpoint() }, at: 0)
        }
    }

    /// A writer job.
    private func checkpoint() {
        guard !writer.withLockedValue({ $0.isClosed }) else { return }
        // A failed checkpoint only leaves the WAL longer: the next commit past the mark queues another, and a disk
        // that cannot be written shows up on appends, where it is reported.
        _ = try? pool.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        writer.withLockedValue { state in
            state.isCheckpointQueued = false
            state.checkpoints += 1
        }
    }

    // MARK: Reading

    public func events(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> [Event] {
        try await read(after: id, matching: filter, limit: limit, maxBytes: maxBytes, withMark: false).events
    }

    /// The page and the mark from one read transaction of SQLite (retention deletes and raises the mark in one
    /// transaction of its own, and it applies the append log before it prunes).
    public func page(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> ReplayPage {
        try await read(after: id, matching: filter, limit: limit, maxBytes: maxBytes, withMark: true)
    }

    /// Events after `id` (SQLite's, then those still waiting in the append log), and the mark when `withMark`.
    private func read(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int, withMark: Bool) async throws -> ReplayPage {
        // The topics, and the last id whose topic they include: events past it may be of a topic this read does not
        // know, and are left out (a page that ends there is the last; a replay takes what follows from live delivery,
        // which has every event published after it started).
        let (matching, all, horizon) = catalog.withLockedValue { catalog in
            (Array(catalog.topics.filter { filter.matches($0) }), catalog.topics.count, catalog.lastID)
        }
        guard limit > 0, maxBytes > 0, !matching.isEmpty || withMark else { return ReplayPage(events: [], prunedThrough: 0) }
        onReadTopics.withLockedValue { $0 }?()
        // Taken before SQLite is read: an entry applied meanwhile is in both, and only once in the result.
        let recent = log?.withLockedValue { state in
            state.unapplied.flatMap { $0.events.filter { $0.id > id && $0.id <= horizon && filter.matches($0.topic) } }
        } ?? []
        do {
            let (stored, recentMarks) = try await pool.read { db -> (ReplayPage, [String: EventID]) in
                let events =
                    matching.isEmpty
                    ? [] : try SQLiteEventStore.storedEvents(
                        db, after: id, through: horizon, matching: matching, all: all, filter: filter, limit: limit, maxBytes: maxBytes)
                guard withMark else { return (ReplayPage(events: events, prunedThrough: 0), [:]) }
                // The recent events were taken before this read: an apply and a retention pass in between may have
                // stored and removed some of them, which the page must not hold beside a mark that says so.
                var marks: [String: EventID] = [:]
                let floor = try SQLiteEventStore.forgottenFloor(in: db)  // a topic folded meanwhile has no row of its own
                for topic in Set(recent.lazy.map(\.topic)) { marks[topic] = max(try SQLiteEventStore.mark(of: topic, in: db) ?? 0, floor) }
                return (ReplayPage(events: events, prunedThrough: try SQLiteEventStore.prunedThrough(db, matching: filter)), marks)
            }
            guard !recent.isEmpty, stored.events.count < limit, stored.events.pageBytes < maxBytes else { return stored }
            // Applies go in id order, so SQLite has every event up to its newest: the recent ones past it are the rest.
            let newest = stored.events.last?.id ?? id
            let rest = recent.lazy.filter { $0.id > newest && $0.id > recentMarks[$0.topic, default: 0] }
            let events = Array((stored.events + rest).prefix(limit)).prefix(bytes: maxBytes)
            return ReplayPage(events: events, prunedThrough: stored.prunedThrough)
        } catch {
            throw StoreError(.readFailed, "the SQLite store '\(path)' cannot be read: \(SQLiteEventStore.describe(error))")
        }
    }

    private static func storedEvents(
        _ db: Database, after id: EventID, through horizon: EventID, matching: [String], all: Int, filter: TopicFilter, limit: Int, maxBytes: Int
    ) throws -> [Event] {
        if matching.count == all || matching.count > SQLiteEventStore.seekTopicLimit {
            // Every topic, or many: one walk of the log by id, keeping the matching events.
            let everyTopic = matching.count == all
            return try SQLiteEventStore.fetch(db, "WHERE id > ? AND id <= ?", [Int64(id), Int64(horizon)], limit: limit, maxBytes: maxBytes) {
                everyTopic || filter.matches($0)
            }
        }
        // A few topics: one index seek per topic, then merge: cost follows the page, not the log. A topic whose
        // read stopped at the limit or the budget may have more after its last event; the merged page cannot
        // pass that event, since up to it the page holds all of that topic's read events, which alone reach
        // the limit or the budget. So nothing is skipped.
        var found: [Event] = []
        for topic in matching {
            found += try SQLiteEventStore.fetch(
                db, "WHERE topic = ? AND id > ? AND id <= ?", [topic, Int64(id), Int64(horizon)], limit: limit, maxBytes: maxBytes)
        }
        found.sort { $0.id < $1.id }
        return Array(found.prefix(limit)).prefix(bytes: maxBytes)
    }

    /// The events `clause` selects, in id order, whose topic `includes`: at most `limit`, and none after the one at
    /// which their ``Event/pageBytes`` reach `maxBytes`. Rows are read one at a time, and a row whose topic is not
    /// included is not decoded further, so a page costs what it returns.
    private static func fetch(
        _ db: Database, _ clause: String, _ arguments: StatementArguments, limit: Int, maxBytes: Int,
        including includes: (String) -> Bool = { _ in true }
    ) throws -> [Event] {
        let statement = try db.cachedStatement(sql: "SELECT \(selectColumns) FROM events \(clause) ORDER BY id")
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        var events: [Event] = []
        var bytes = 0
        while let row = try rows.next() {
            let topic: String = row[1]
            guard includes(topic) else { continue }
            let text: String = row[3]
            let event = Event(
                id: row[0], topic: topic, type: row[2], data: (row[4] as Bool) ? .json(text) : .text(text), timestamp: row[5], source: row[6])
            events.append(event)
            bytes += event.pageBytes
            if events.count >= limit || bytes >= maxBytes { return events }
        }
        return events
    }

    /// Reads through the connection pool, as replays do (the writer may be busy; reads must still work).
    public func probe() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    public func lastEventID() async throws -> EventID {
        catalog.withLockedValue { $0.lastID }
    }

    /// Append transactions committed since the store was opened.
    var commitCount: Int { writer.withLockedValue { $0.commits } }

    /// Applies of the append log that failed (tests only).
    var failedApplyCount: Int { log?.withLockedValue { $0.failedApplies } ?? 0 }
    /// The most events one transaction has taken so far.
    var largestCommitEvents: Int { writer.withLockedValue { $0.largestCommit } }

    /// Topics the last retention step counted (tests).
    var lastCountedTopics: Int { writer.withLockedValue { $0.lastCountedTopics } }

    /// Appends written to the append log (`store.sync: normal`) since the store was opened.
    var logAppendCount: Int { log?.withLockedValue { $0.appends } ?? 0 }

    /// Bytes in the append log now.
    var logBytes: Int { log?.withLockedValue { $0.file.size } ?? 0 }

    /// WAL checkpoints run (off the commit path) since the store was opened.
    var checkpointCount: Int { writer.withLockedValue { $0.checkpoints } }

    /// The highest id retention removed from a topic `filter` matches, forgotten topics included: their marks are
    /// read from SQLite, where each topic keeps its row (by name for a pattern without wildcards, else by the range
    /// of names its literal prefix starts).
    public func prunedThrough(matching filter: TopicFilter) async throws -> EventID {
        do {
            return try await pool.read { db in try SQLiteEventStore.prunedThrough(db, matching: filter) }
        } catch {
            throw StoreError(.readFailed, "reading the SQLite store '\(path)' failed: \(SQLiteEventStore.describe(error))")
        }
    }

    /// The mark of every topic: the highest of the marks folded out of the forgotten topics' rows
    /// (``foldForgottenMarks(keeping:)``).
    private static func forgottenFloor(in db: Database) throws -> EventID {
        try EventID.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'forgotten_floor'") ?? 0
    }

    /// The retention mark of one topic; `nil` for a topic the store never had (or whose row was folded).
    private static func mark(of topic: String, in db: Database) throws -> EventID? {
        try EventID.fetchOne(db, sql: "SELECT pruned_through FROM topics WHERE name = ?", arguments: [topic])
    }

    private static func prunedThrough(_ db: Database, matching filter: TopicFilter) throws -> EventID {
        var highest = try forgottenFloor(in: db)
        for pattern in filter.patterns {
            let (prefix, isWhole) = pattern.literalPrefix
            // The prefix itself is a topic the pattern may match (`a` for `a/**`, not for `a/*`).
            if !prefix.isEmpty, isWhole || pattern.matches(prefix), let exact = try mark(of: prefix, in: db) {
                highest = max(highest, exact)
            }
            if isWhole { continue }
            // '0' follows '/' in byte order: the names that start with the prefix and a '/'.
            let rows =
                prefix.isEmpty
                ? try Row.fetchCursor(db, sql: "SELECT name, pruned_through FROM topics WHERE pruned_through > ?", arguments: [Int64(highest)])
                : try Row.fetchCursor(
                    db, sql: "SELECT name, pruned_through FROM topics WHERE name >= ? AND name < ? AND pruned_through > ?",
                    arguments: [prefix + "/", prefix + "0", Int64(highest)])
            while let row = try rows.next() {
                let mark: EventID = row[1]
                if mark > highest, pattern.matches(row[0] as String) { highest = mark }
            }
        }
        return highest
    }

    /// Topics the store knows (those with events, or with events waiting to be applied), for tests.
    var topicCount: Int { catalog.withLockedValue { $0.topics.count } }

    /// Where a retention step is, for tests that append at that moment: when it starts, and when its transaction
    /// (which may have forgotten topics) is committed but the catalog not yet told.
    enum PruneStage: Sendable { case started, committed }

    /// Called by a read once it has taken the topics it reads, before it reads anything (tests only).
    let onReadTopics = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)

    /// Called on the writer at each ``PruneStage`` (tests only).
    let onPruneStage = NIOLockedValueBox<(@Sendable (PruneStage) -> Void)?>(nil)

    // MARK: Retention

    @discardableResult
    public func applyRetention(_ retention: Retention, now: Int64) async throws -> Int {
        // Retention counts and ages every stored event: the log's too, every entry appended before it, a batch
        // per transaction and per writer job (so a checkpoint can run between two), each taking at least one
        // entry, so this ends however fast appends come.
        if let log {
            var entries = log.withLockedValue { $0.unapplied.count }
            while entries > 0, try await onWriter({ self.applyLog(scheduled: false) }) { entries -= 1 }
        }
        if let cutoff = retention.deliveryCutoff(now: now) {
            try await onWriter {
                do {
                    try self.pool.write { db in try db.execute(sql: "DELETE FROM deliveries WHERE time < ?", arguments: [cutoff]) }
                } catch {
                    throw StoreError(.writeFailed, "pruning the SQLite store '\(self.path)' failed: \(SQLiteEventStore.describe(error))")
                }
            }
        }
        var removed = 0
        // Each step is one short transaction on the writer, so appends interleave with pruning. Age and the bound per
        // topic go first: the store's bound then counts what they left, so it removes no more than it must. A task
        // cancelled (the daemon stops) ends the pass between two steps; the next pass goes on from there.
        while true {
            try Task.checkCancellation()
            let step = try await onWriter { try self.pruneStep(retention, now: now, keepingFrom: nil) }
            removed += step
            if step < SQLiteEventStore.pruneChunk { break }
        }
        if let maxEvents = retention.maxEvents, let firstKept = try await onWriter({ try self.firstOfNewest(maxEvents) }) {
            let removedBefore = removed
            while true {
                try Task.checkCancellation()
                let step = try await onWriter { try self.pruneStep(retention, now: now, keepingFrom: firstKept) }
                removed += step
                if step < SQLiteEventStore.pruneChunk { break }
            }
            if removed > removedBefore {
                logger.notice(
                    "Retention pruned the oldest events, across topics, past store.retention.max_events",
                    metadata: ["store.path": "\(path)", "max_events": "\(maxEvents)", "hookstream.pruned": "\(removed - removedBefore)"])
            }
        }
        try await onWriter { try self.foldForgottenMarks(keeping: retention.forgottenTopicMarks) }
        return removed
    }

    /// The id of the oldest of the newest `count` events, when there are more events than that: what a pass keeps
    /// of the store's bound, found once per pass.
    private func firstOfNewest(_ count: Int) throws -> Int64? {
        do {
            return try pool.read { db in
                // The span of the ids bounds the count from above and costs two seeks; the count (a walk of the
                // smaller index) is made only when the store may hold more, and the walk to the first kept only over
                // the excess.
                guard let span = try Int64.fetchOne(db, sql: "SELECT (SELECT max(id) FROM events) - (SELECT min(id) FROM events) + 1"),
                    span > Int64(count), let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM events"), total > count
                else { return nil }
                return try Int64.fetchOne(db, sql: "SELECT id FROM events ORDER BY id LIMIT 1 OFFSET ?", arguments: [total - count])
            }
        } catch {
            throw StoreError(.readFailed, "reading the SQLite store '\(path)' failed: \(SQLiteEventStore.describe(error))")
        }
    }

    /// Folds the lowest marks of forgotten topics into the store's floor (`meta.forgotten_floor`, which
    /// ``prunedThrough(matching:)`` reads for every filter) while there are more than `limit`, and deletes their rows:
    /// a source whose topics come from its messages would otherwise leave a row per topic, for good. The forgotten
    /// topics are listed in `forgotten_topics`, in mark order, so a pass reads only what it folds.
    private func foldForgottenMarks(keeping limit: Int) throws {
        do {
            try pool.writeWithoutTransaction { db in
                guard let listed = try Int.fetchOne(db, sql: "SELECT count(*) FROM forgotten_topics"), listed > limit else { return }
                try db.inTransaction(.immediate) {
                    let folded = try Row.fetchAll(
                        db, sql: "SELECT name, pruned_through FROM forgotten_topics ORDER BY pruned_through, name LIMIT ?", arguments: [listed - limit])
                    let floor = folded.reduce(Int64(0)) { max($0, $1[1] as Int64) }
                    try db.execute(
                        sql: "INSERT INTO meta(key, value) VALUES ('forgotten_floor', ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                        arguments: [floor])
                    let unlist = try db.cachedStatement(sql: "DELETE FROM forgotten_topics WHERE name = ?")
                    // A topic that came back since it was forgotten keeps its row: only its listing goes (its mark,
                    // now under the floor too, is still its own).
                    let delete = try db.cachedStatement(
                        sql: "DELETE FROM topics WHERE name = ? AND NOT EXISTS (SELECT 1 FROM events WHERE events.topic = topics.name)")
                    for row in folded {
                        let name: String = row[0]
                        try unlist.execute(arguments: [name])
                        try delete.execute(arguments: [name])
                    }
                    return .commit
                }
            }
        } catch {
            throw StoreError(.writeFailed, "pruning the SQLite store '\(path)' failed: \(SQLiteEventStore.describe(error))")
        }
    }

    /// Runs `work` with the writer connection, between groups of appends.
    private func onWriter<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let mustSchedule = writer.withLockedValue { state in
                state.jobs.append {
                    guard !self.writer.withLockedValue({ $0.isClosed }) else {
                        return continuation.resume(throwing: StoreError(.unavailable, "the SQLite store '\(self.path)' is closed"))
                    }
                    continuation.resume(with: Result { try work() })
                }
                return state.claim()
            }
            if mustSchedule { writerQueue.async { self.runWriter() } }
        }
    }

    /// Deletes at most ``pruneChunk`` rows that retention no longer keeps; returns how many. With `firstKept`, only
    /// the events before it (the store's bound); without, those past their age and past their topic's bound.
    private func pruneStep(_ retention: Retention, now: Int64, keepingFrom firstKept: Int64?) throws -> Int {
        onPruneStage.withLockedValue { $0 }?(.started)
        // Taken from the writer's state (appends applied from now on grow it anew); what this step does not finish
        // goes back. Every topic is counted on the first pass and when the bound was lowered.
        let (grown, countAll): (Set<String>, Bool) =
            firstKept != nil
            ? ([], false)
            : writer.withLockedValue { state in
                defer { state.grownTopics.removeAll() }
                return (state.grownTopics, retention.maxEventsPerTopic < state.countedBound)
            }
        let topics = countAll ? catalog.withLockedValue { Array($0.topics) } : Array(grown)
        var unfinished: [String] = []
        var marks: [String: EventID] = [:]
        var forgotten: [String] = []
        var removed = 0
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    // The newest row may go: keep its id, so the next append still numbers above it.
                    try db.execute(sql: "UPDATE meta SET value = max(value, coalesce((SELECT max(id) FROM events), 0)) WHERE key = 'last_id'")
                    var budget = SQLiteEventStore.pruneChunk
                    // The events too old, and those past the store's bound, are a prefix of the ids: they grow with time.
                    var prefixEnd = firstKept  // the first id kept
                    if firstKept == nil, let cutoff = retention.cutoff(now: now) {
                        let firstYoung = try EventID.fetchOne(db, sql: "SELECT id FROM events WHERE time >= ? ORDER BY id LIMIT 1", arguments: [cutoff])
                        prefixEnd = firstYoung.map { Int64($0) } ?? Int64.max
                    }
                    if let bound = prefixEnd {                        let old = try Row.fetchAll(
                            db, sql: "SELECT id, topic FROM events WHERE id < ? ORDER BY id LIMIT ?", arguments: [bound, budget])
                        for row in old {
                            let id: EventID = row[0]
                            let topic: String = row[1]
                            marks[topic] = max(marks[topic] ?? 0, id)
                        }
                        if let last = old.last {
                            try db.execute(sql: "DELETE FROM events WHERE id <= ?", arguments: [last[0] as Int64])
                            budget -= old.count
                            removed += old.count
                        }
                    }
                    unfinished = []
                    for topic in topics {
                        guard budget > 0 else {
                            unfinished.append(topic)
                            continue
                        }
                        guard
                            let newestDropped = try EventID.fetchOne(
                                db, sql: "SELECT id FROM events WHERE topic = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                                arguments: [topic, retention.maxEventsPerTopic])
                        else { continue }
                        let victims = try EventID.fetchAll(
                            db, sql: "SELECT id FROM events WHERE topic = ? AND id <= ? ORDER BY id LIMIT ?",
                            arguments: [topic, Int64(newestDropped), budget])
                        guard let last = victims.last else { continue }
                        try db.execute(sql: "DELETE FROM events WHERE topic = ? AND id <= ?", arguments: [topic, Int64(last)])
                        marks[topic] = max(marks[topic] ?? 0, last)
                        if last < newestDropped { unfinished.append(topic) }  // the budget ran out inside it
                        budget -= victims.count
                        removed += victims.count
                    }
                    let mark = try db.cachedStatement(sql: "UPDATE topics SET pruned_through = max(pruned_through, ?) WHERE name = ?")
                    for (topic, id) in marks { try mark.execute(arguments: [Int64(id), topic]) }
                    // A topic left with no event is forgotten: the catalog lets it go (its name would otherwise be
                    // held, and walked by every retention pass and every read by pattern, for good: one topic per
                    // user, say). Its row stays, with its mark, for resumes (``prunedThrough(matching:)``).
                    let exists = try db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM events WHERE topic = ?)")
                    forgotten = try marks.keys.filter { try Bool.fetchOne(exists, arguments: [$0]) == false }
                    // Listed in mark order, for ``foldForgottenMarks(keeping:)``; a topic that comes back stays listed
                    // (its row is not deleted while it has events).
                    let list = try db.cachedStatement(
                        sql: "INSERT OR REPLACE INTO forgotten_topics(name, pruned_through) SELECT name, pruned_through FROM topics WHERE name = ?")
                    for topic in forgotten { try list.execute(arguments: [topic]) }
                    return .commit
                }
            }
        } catch {
            writer.withLockedValue { $0.grownTopics.formUnion(topics) }
            throw StoreError(.writeFailed, "pruning the SQLite store '\(path)' failed: \(SQLiteEventStore.describe(error))")
        }
        if firstKept == nil {
            writer.withLockedValue { state in
                state.grownTopics.formUnion(unfinished)
                state.countedBound = retention.maxEventsPerTopic
                state.lastCountedTopics = topics.count
            }
        }
        onPruneStage.withLockedValue { $0 }?(.committed)
        if !forgotten.isEmpty { forget(forgotten) }
        return removed
    }

    /// Takes topics that retention left with no event out of the catalog, after the transaction that pruned them.
    ///
    /// A topic with events still in the append log stays, or reads by topic would not find them (an append may
    /// have numbered one meanwhile: it still knew the topic). Appends number their events under the log's lock, so
    /// checking the unapplied events and taking the topics out under it leaves no gap.
    private func forget(_ topics: [String]) {
        let take = { (pending: Set<String>) in
            self.catalog.withLockedValue { catalog in
                for topic in topics where !pending.contains(topic) { catalog.topics.remove(topic) }
            }
        }
        // With `sync: full` appends are numbered and committed on this writer, so none is in between.
        guard let log else { return take([]) }
        log.withLockedValue { state in take(Set(state.unapplied.lazy.flatMap { $0.events.lazy.map(\.topic) })) }
    }

    deinit {
        releaseLock()
    }

    /// Closes the lock file, which releases the lock, once.
    private func releaseLock() {
        lockDescriptor.withLockedValue { descriptor in
            guard descriptor >= 0 else { return }
            closeDescriptor(descriptor)
            descriptor = -1
        }
    }

    /// `path` with its symbolic links resolved: the file's real path when it exists, else its real folder's with
    /// the file's name (a link that leads nowhere is left as it is: SQLite creates what it names).
    static func resolvingLinks(_ path: String, folder: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        guard let resolvedFolder = realpath(folder, nil) else { return path }
        defer { free(resolvedFolder) }
        return String(cString: resolvedFolder) + "/" + (path as NSString).lastPathComponent
    }

    /// How many times the writer has found the database locked by another connection.
    var busyAnswersSoFar: Int { appender.busyWait.busyAnswersSoFar }

    /// Past this much in the append log, a close leaves it for the next start to apply: a stop has about two seconds
    /// in all (256 MiB, the most the log holds, took 1.3 s to apply here).
    static let closingApplyBytes = 32 << 20

    public func close() async throws {
        // Whatever the last apply does (a full disk at shutdown), the store is given up.
        defer { releaseLock() }
        // Not on the writer: an apply or a `sync: full` append waiting there for another process's lock must stop
        // waiting, or it holds the stop past its bound. What a lock keeps out stays in the log.
        appender.busyWait.giveUp()
        try await onWriter {
            self.writer.withLockedValue { $0.isClosed = true }
            if let log = self.log {
                // Everything in SQLite, the log empty: the next start has nothing to recover.
                try log.withLockedValue { state in
                    state.isClosed = true
                    if state.unappliedBytes > SQLiteEventStore.closingApplyBytes {
                        self.logger.notice(
                            "The SQLite store leaves its append log for the next start to apply (too much to apply within a stop)",
                            metadata: ["store.path": "\(self.path)", "events": "\(state.unappliedEvents)", "bytes": "\(state.unappliedBytes)"])
                        return
                    }
                    if !state.unapplied.isEmpty { try self.applyToSQLite(state.unapplied) }
                    state.unapplied.removeAll()
                    state.unappliedEvents = 0
                    state.unappliedBytes = 0
                    try state.file.truncate()
                }
            }
            self.appender.close()
            try self.pool.close()
        }
    }

    /// SQLite's own message, without GRDB's statement dump (which could hold event data).
    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "\(error.message ?? "SQLite error") (SQLite code \(error.resultCode.primaryResultCode.rawValue))"
        }
        if let error = error as? SQLiteAppendConnection.Failure { return error.description }
        if let error = error as? AppendLog.Failure { return "its append log: \(error.description)" }
        return "\(error)"
    }
}

/// `close(2)`, out of the reach of the store's own `close()`.
private func closeDescriptor(_ descriptor: CInt) {
    _ = close(descriptor)
}
