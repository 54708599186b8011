import GRDBSQLite

/// The connection ``SQLiteEventStore`` writes events through (applies of its append log, `sync: full` groups):
/// SQLite's C API, with its statements prepared once.
///
/// When every sparse publish was its own transaction on an event loop, GRDB cost a hop through its writer's
/// dispatch queue and, per statement, argument boxing, statement bookkeeping and observer checks: about a quarter
/// of the commit's CPU (profiled with `perf` at 200 events/s). The schema, reads, retention and checkpoints stay
/// with GRDB, on its own connections.
///
/// Not thread-safe: every use must hold the store's writer (``SQLiteEventStore``'s `WriterState.claim()`), which is
/// also what keeps it from writing while GRDB's writer prunes or checkpoints.
final class SQLiteAppendConnection: @unchecked Sendable {  // used only by the writer's holder, one at a time
    /// A failed SQLite call: its message and primary result code, never the bound values (they hold event data).
    struct Failure: Error, CustomStringConvertible {
        let code: Int32
        let message: String
        var description: String { "\(message) (SQLite code \(code & 0xFF))" }
    }

    /// The SQLite handle, for hooks (`sqlite3_wal_hook`).
    let handle: OpaquePointer
    private let begin: OpaquePointer
    private let commit: OpaquePointer
    private let rollback: OpaquePointer
    private let insertEvent: OpaquePointer
    private let insertTopic: OpaquePointer
    private let insertDelivery: OpaquePointer
    private var isClosed = false
    /// How a locked database is waited for; ``SQLiteEventStore/close()`` gives it up.
    let busyWait: SQLiteBusyWait
    /// The text columns of the row being inserted, end to end.
    private var text: [UInt8] = []

    /// SQLite copies a bound value it is handed with this destructor.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Opens `path`, which must exist with the store's schema and in WAL mode (GRDB's pool has created it).
    init(path: String, synchronousFull: Bool) throws(Failure) {
        let busyWait = SQLiteBusyWait()
        var opened: OpaquePointer?
        let status = sqlite3_open_v2(path, &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let handle = opened else {
            let failure = Failure(code: status, message: opened.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open the file")
            sqlite3_close_v2(opened)
            throw failure
        }
        var prepared: [OpaquePointer] = []
        do throws(Failure) {
            sqlite3_busy_handler(
                handle,
                { context, attempt in
                    guard let context else { return 0 }
                    return Unmanaged<SQLiteBusyWait>.fromOpaque(context).takeUnretainedValue().retries(after: attempt) ? 1 : 0
                }, Unmanaged.passUnretained(busyWait).toOpaque())  // kept alive by this connection, which owns the handle
            try Self.run(handle, "PRAGMA synchronous = \(synchronousFull ? "FULL" : "NORMAL")")
            for sql in [
                "BEGIN IMMEDIATE TRANSACTION", "COMMIT TRANSACTION", "ROLLBACK TRANSACTION",
                "INSERT INTO events(id, topic, type, data, is_json, time, source) VALUES (?, ?, ?, ?, ?, ?, ?)",
                "INSERT OR IGNORE INTO topics(name) VALUES (?)",
                "INSERT OR REPLACE INTO deliveries(source, id, time, event_ids, topics) VALUES (?, ?, ?, ?, ?)",
            ] {
                var statement: OpaquePointer?
                let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
                guard status == SQLITE_OK, let statement else { throw Self.failure(handle, status) }
                prepared.append(statement)
            }
        } catch {
            for statement in prepared { sqlite3_finalize(statement) }
            sqlite3_close_v2(handle)
            throw error
        }
        self.handle = handle
        self.busyWait = busyWait
        (begin, commit, rollback, insertEvent, insertTopic, insertDelivery) = (
            prepared[0], prepared[1], prepared[2], prepared[3], prepared[4], prepared[5]
        )
    }

    deinit { close() }

    /// Inserts the entries' events, registers their topics and remembers their deliveries, in log order, in one
    /// transaction; all or nothing.
    func append(_ entries: [AppendLogEntry]) throws(Failure) {
        try step(begin)
        do throws(Failure) {
            for event in entries.lazy.flatMap(\.events) {
                // The text columns go to SQLite as pointers into one reused buffer, which SQLite reads during the
                // step without copying (`SQLITE_STATIC`): passing Swift strings made two copies of each, both
                // allocated, 8 of a publish's 61 allocations.
                text.removeAll(keepingCapacity: true)
                text.append(0)  // so that no column, even an empty one, is bound to a nil pointer, which means NULL
                let topic = put(event.topic)
                let type = put(event.type)
                let data = put(event.data.text)
                let source = put(event.source)
                try text.withUnsafeBufferPointer { (buffer) throws(Failure) in
                    let base = buffer.baseAddress!
                    sqlite3_bind_int64(insertEvent, 1, Int64(event.id))
                    bindStatic(base, topic, to: insertEvent, at: 2)
                    bindStatic(base, type, to: insertEvent, at: 3)
                    bindStatic(base, data, to: insertEvent, at: 4)
                    sqlite3_bind_int(insertEvent, 5, event.data.isJSON ? 1 : 0)
                    sqlite3_bind_int64(insertEvent, 6, event.timestamp)
                    bindStatic(base, source, to: insertEvent, at: 7)
                    defer { sqlite3_clear_bindings(insertEvent) }  // nothing keeps pointing into the buffer
                    try step(insertEvent)
                }
            }
            // Every event's topic is registered, not only those that were new when it was numbered: retention may
            // have forgotten a topic (it had no event left) between an event's numbering and this apply.
            var registered = Set<String>()
            for event in entries.lazy.flatMap(\.events) where registered.insert(event.topic).inserted {
                sqlite3_bind_text(insertTopic, 1, event.topic, Int32(event.topic.utf8.count), Self.transient)
                try step(insertTopic)
            }
            for delivery in entries.lazy.flatMap(\.deliveries) {
                let (key, record) = (delivery.key, delivery.record)
                let (ids, topics) = SQLiteEventStore.deliveryColumns(record)
                sqlite3_bind_text(insertDelivery, 1, key.source, Int32(key.source.utf8.count), Self.transient)
                sqlite3_bind_text(insertDelivery, 2, key.id, Int32(key.id.utf8.count), Self.transient)
                sqlite3_bind_int64(insertDelivery, 3, record.time)
                sqlite3_bind_text(insertDelivery, 4, ids, Int32(ids.utf8.count), Self.transient)
                sqlite3_bind_text(insertDelivery, 5, topics, Int32(topics.utf8.count), Self.transient)
                try step(insertDelivery)
            }
            try step(commit)
        } catch {
            // SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR).
            if sqlite3_get_autocommit(handle) == 0 { try? step(rollback) }
            throw error
        }
    }

    /// Finalizes the statements and closes the connection; later calls do nothing.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        for statement in [begin, commit, rollback, insertEvent, insertTopic, insertDelivery] { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Appends `string`'s UTF-8 bytes to ``text``; returns where they are.
    private func put(_ string: String) -> Range<Int> {
        let start = text.count
        text.append(contentsOf: string.utf8)
        return start..<text.count
    }

    private func bindStatic(_ base: UnsafePointer<UInt8>, _ range: Range<Int>, to statement: OpaquePointer, at index: Int32) {
        let start = UnsafeRawPointer(base + range.lowerBound).assumingMemoryBound(to: CChar.self)
        sqlite3_bind_text(statement, index, start, Int32(range.count), nil)
    }

    /// Runs a prepared statement that returns no rows, and resets it for the next use.
    private func step(_ statement: OpaquePointer) throws(Failure) {
        let status = sqlite3_step(statement)
        let failure = status == SQLITE_DONE ? nil : Self.failure(handle, status)
        sqlite3_reset(statement)
        if let failure { throw failure }
    }

    private static func run(_ handle: OpaquePointer, _ sql: String) throws(Failure) {
        let status = sqlite3_exec(handle, sql, nil, nil, nil)
        guard status == SQLITE_OK else { throw failure(handle, status) }
    }

    private static func failure(_ handle: OpaquePointer, _ status: Int32) -> Failure {
        Failure(code: status, message: String(cString: sqlite3_errmsg(handle)))
    }
}
