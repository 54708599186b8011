import HookstreamCore
import Logging
import NIOCore
import PostgresNIO

/// The store's tables, and the statements that write them. Every name starts with `hookstream_`, so the store may
/// live in a database that holds other things too.
///
/// - `hookstream_events`: one row per event; `data` as bytes (PostgreSQL's text cannot hold a NUL, an event's text
///   can). Indexed by topic then id (`text_pattern_ops`, so a pattern's literal prefix is a range of the index
///   whatever the database's collation).
/// - `hookstream_topics`: the retention mark of each topic retention has pruned (the highest id it removed).
/// - `hookstream_forgotten_topics`: the topics left with no event, by mark, for folding into
///   `hookstream_meta.forgotten_floor`.
/// - `hookstream_deliveries`: webhook deliveries remembered for their redeliveries.
/// - `hookstream_meta`: `last_id` (the last id handed out; never lowered, so ids are never reused) and
///   `forgotten_floor`.
enum PostgresSchema {
    static let eventColumns = "id, topic, type, data, is_json, time, source"

    /// Creates what is missing, one instance at a time (inside the caller's transaction).
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresEventStore.schemaLock))", logger: logger)
        for statement in [
            """
            CREATE TABLE IF NOT EXISTS hookstream_events (
                id BIGINT PRIMARY KEY,
                topic TEXT NOT NULL,
                type TEXT NOT NULL,
                data BYTEA NOT NULL,
                is_json BOOLEAN NOT NULL,
                time BIGINT NOT NULL,
                source TEXT NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS hookstream_events_by_topic ON hookstream_events (topic text_pattern_ops, id)",
            "CREATE TABLE IF NOT EXISTS hookstream_topics (name TEXT PRIMARY KEY, pruned_through BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS hookstream_topics_by_name ON hookstream_topics (name text_pattern_ops)",
            "CREATE TABLE IF NOT EXISTS hookstream_forgotten_topics (name TEXT PRIMARY KEY, pruned_through BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS hookstream_forgotten_topics_by_mark ON hookstream_forgotten_topics (pruned_through)",
            """
            CREATE TABLE IF NOT EXISTS hookstream_deliveries (
                source TEXT NOT NULL,
                id TEXT NOT NULL,
                time BIGINT NOT NULL,
                event_ids BIGINT[] NOT NULL,
                topics TEXT[] NOT NULL,
                PRIMARY KEY (source, id)
            )
            """,
            "CREATE INDEX IF NOT EXISTS hookstream_deliveries_by_time ON hookstream_deliveries (time)",
            "CREATE TABLE IF NOT EXISTS hookstream_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
            "INSERT INTO hookstream_meta (key, value) VALUES ('last_id', 0), ('forgotten_floor', 0) ON CONFLICT (key) DO NOTHING",
        ] {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
    }

    static func lastID(_ connection: PostgresConnection, logger: Logger) async throws -> EventID {
        try await meta("last_id", connection, logger: logger)
    }

    static func meta(_ key: String, _ connection: PostgresConnection, logger: Logger) async throws -> EventID {
        let rows = try await connection.query("SELECT value FROM hookstream_meta WHERE key = \(key)", logger: logger)
        for try await value in rows.decode(Int64.self) { return EventID(value) }
        return 0
    }

    static func insert(_ events: [Event], _ connection: PostgresConnection, logger: Logger) async throws {
        var start = events.startIndex
        while start < events.endIndex {
            let end = min(start + PostgresEventStore.insertChunk, events.endIndex)
            var sql = "INSERT INTO hookstream_events (\(eventColumns)) VALUES "
            var binds = PostgresBindings(capacity: (end - start) * 7)
            for (offset, event) in events[start..<end].enumerated() {
                let base = offset * 7
                if offset > 0 { sql += ", " }
                sql += "($\(base + 1), $\(base + 2), $\(base + 3), $\(base + 4), $\(base + 5), $\(base + 6), $\(base + 7))"
                binds.append(Int64(event.id))
                binds.append(event.topic)
                binds.append(event.type)
                binds.append(ByteBuffer(string: event.data.text))
                binds.append(event.data.isJSON)
                binds.append(event.timestamp)
                binds.append(event.source)
            }
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            start = end
        }
    }

    /// Remembers webhook deliveries; a redelivery stored again (after its first was forgotten) replaces it.
    static func remember(_ deliveries: [(DeliveryKey, DeliveryRecord)], _ connection: PostgresConnection, logger: Logger) async throws {
        for (key, record) in deliveries {
            let ids = record.ids.map { Int64($0) }
            try await connection.query(
                """
                INSERT INTO hookstream_deliveries (source, id, time, event_ids, topics)
                VALUES (\(key.source), \(key.id), \(record.time), \(ids), \(record.topics))
                ON CONFLICT (source, id) DO UPDATE SET time = excluded.time, event_ids = excluded.event_ids, topics = excluded.topics
                """, logger: logger)
        }
    }

    /// Reads events from rows of ``eventColumns``.
    static func events(_ rows: PostgresRowSequence, including includes: (String) -> Bool = { _ in true }) async throws -> [Event] {
        var events: [Event] = []
        for try await (id, topic, type, data, isJSON, time, source) in rows.decode((Int64, String, String, ByteBuffer, Bool, Int64, String).self) {
            guard includes(topic) else { continue }
            let text = String(buffer: data)
            events.append(Event(id: EventID(id), topic: topic, type: type, data: isJSON ? .json(text) : .text(text), timestamp: time, source: source))
        }
        return events
    }
}
