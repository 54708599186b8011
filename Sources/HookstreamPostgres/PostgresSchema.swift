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
        try await connection.rows("SELECT pg_advisory_xact_lock(\(PostgresEventStore.schemaLock))", logger: logger)
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
            appendFunction,
        ] {
            try await connection.rows(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
    }

    static func lastID(_ connection: PostgresConnection, logger: Logger) async throws -> EventID {
        try await meta("last_id", connection, logger: logger)
    }

    static func meta(_ key: String, _ connection: PostgresConnection, logger: Logger) async throws -> EventID {
        let rows = try await connection.rows("SELECT value FROM hookstream_meta WHERE key = \(key)", logger: logger)
        guard let row = rows.first else { return 0 }
        return EventID(try row.decode(Int64.self))
    }

    /// An append, as a function in the database (`CREATE OR REPLACE`d at every start): its statements are planned once per
    /// connection, where a statement sent whole is parsed and planned at every append. Taking the `last_id` row's lock
    /// (held until the append commits) comes first: an append of another instance waits there, then numbers after this
    /// one. Ids are therefore committed in their order, which the listeners rely on, and dense.
    ///
    /// Behind that lock, the append sees every delivery the others committed: a delivery already held from within its
    /// window (`since`) is a redelivery another instance took in the same instant, and its drafts are not stored. The
    /// result names them (their 1-based places among the drafts), with the id before the first event's.
    ///
    /// Earlier versions called `hookstream_append`, which returned the id alone; it is left as it is, so that
    /// instances of an earlier version still running during an upgrade (or started again after one) keep working.
    static let appendFunction = """
        CREATE OR REPLACE FUNCTION hookstream_append_events(
            p_count bigint, p_time bigint, p_topics text[], p_types text[], p_data bytea[], p_is_json boolean[],
            p_sources text[], p_deliveries jsonb, p_instance text, OUT base bigint, OUT skipped bigint[]
        ) LANGUAGE plpgsql AS $$
        DECLARE
            v_base bigint;
            v_skipped bigint[] := '{}';
            v_kept bigint := p_count;
        BEGIN
            IF jsonb_array_length(p_deliveries) = 0 THEN
                -- No delivery to check: the update takes the lock, and numbers, in one statement.
                UPDATE hookstream_meta SET value = value + p_count WHERE key = 'last_id' RETURNING value - p_count INTO v_base;
            ELSE
                SELECT value INTO v_base FROM hookstream_meta WHERE key = 'last_id' FOR UPDATE;
                SELECT coalesce(array_agg(g ORDER BY g), '{}') INTO v_skipped
                FROM jsonb_to_recordset(p_deliveries) AS d(source text, id text, first bigint, last bigint, topics text[], since bigint)
                JOIN hookstream_deliveries r ON r.source = d.source AND r.id = d.id AND r.time >= d.since
                CROSS JOIN generate_series(d.first, d.last) AS g;
                v_kept := p_count - cardinality(v_skipped);
                UPDATE hookstream_meta SET value = value + v_kept WHERE key = 'last_id';
            END IF;
            IF v_base IS NULL THEN
                RAISE EXCEPTION 'the last_id row is missing from hookstream_meta';
            END IF;
            IF cardinality(v_skipped) = 0 THEN
                INSERT INTO hookstream_events (id, topic, type, data, is_json, time, source)
                SELECT v_base + e.ordinal, e.topic, e.type, e.data, e.is_json, p_time, e.source
                FROM unnest(p_topics, p_types, p_data, p_is_json, p_sources) WITH ORDINALITY AS e(topic, type, data, is_json, source, ordinal);
            ELSE
                INSERT INTO hookstream_events (id, topic, type, data, is_json, time, source)
                SELECT v_base + row_number() OVER (ORDER BY e.ordinal), e.topic, e.type, e.data, e.is_json, p_time, e.source
                FROM unnest(p_topics, p_types, p_data, p_is_json, p_sources) WITH ORDINALITY AS e(topic, type, data, is_json, source, ordinal)
                WHERE e.ordinal <> ALL (v_skipped);
            END IF;
            IF jsonb_array_length(p_deliveries) > 0 THEN
                INSERT INTO hookstream_deliveries AS r (source, id, time, event_ids, topics)
                SELECT d.source, d.id, p_time,
                    ARRAY(SELECT v_base + g - cardinality(ARRAY(SELECT s FROM unnest(v_skipped) AS s WHERE s < g))
                          FROM generate_series(d.first, d.last) AS g ORDER BY g),
                    d.topics
                FROM jsonb_to_recordset(p_deliveries) AS d(source text, id text, first bigint, last bigint, topics text[], since bigint)
                WHERE d.first <> ALL (v_skipped)
                ON CONFLICT (source, id) DO UPDATE SET time = excluded.time, event_ids = excluded.event_ids, topics = excluded.topics;
            END IF;
            IF v_kept > 0 THEN
                PERFORM pg_notify('\(PostgresEventStore.channel)', p_instance || ' ' || (v_base + 1) || ' ' || (v_base + v_kept));
            END IF;
            base := v_base;
            skipped := v_skipped;
        END
        $$
        """

    /// The call that stores `drafts` as the events after the last id, and `deliveries` (each naming the drafts it
    /// published, by offset and count, and when its window opened), and notifies the other instances
    /// (``appendFunction``): one round trip, committed on its own. Its one row is the id before the first event's and
    /// the 1-based places of the drafts it did not store.
    static func appendQuery(
        _ drafts: [EventDraft], deliveries: [(key: DeliveryKey, since: Int64, first: Int, count: Int)], time: Int64, instance: String
    ) -> PostgresQuery {
        var binds = PostgresBindings(capacity: 9)
        binds.append(Int64(drafts.count))
        binds.append(time)
        binds.append(drafts.map(\.topic))
        binds.append(drafts.map(\.type))
        binds.append(drafts.map { ByteBuffer(string: $0.data.text) })
        binds.append(drafts.map(\.data.isJSON))
        binds.append(drafts.map(\.source))
        let remembered = JSONValue.array(
            deliveries.map { delivery in
                .object([
                    .init("source", .string(delivery.key.source)), .init("id", .string(delivery.key.id)),
                    .init("first", .number(String(delivery.first + 1))), .init("last", .number(String(delivery.first + delivery.count))),
                    .init("topics", .array(drafts[delivery.first..<(delivery.first + delivery.count)].map { .string($0.topic) })),
                    .init("since", .number(String(delivery.since))),
                ])
            })
        binds.append(remembered.jsonText)
        binds.append(instance)
        return PostgresQuery(
            unsafeSQL: "SELECT base, skipped FROM hookstream_append_events($1, $2, $3::text[], $4::text[], $5::bytea[], $6::boolean[], $7::text[], $8::jsonb, $9)",
            binds: binds)
    }

    /// Events after `$1` that `condition` takes, in id order, at most `$2` of them, ending at the one whose data reaches
    /// `$3` bytes: the sum is a running one of `octet_length`, which reads no data, so rows past it are never fetched.
    /// The limit is innermost, so the sum covers the chunk only and a sort (when the plan reads the topic index, whose
    /// order is not the ids') keeps only the chunk's rows. Read its result with ``chunk(_:bytes:)``.
    static func chunkQuery(where condition: String) -> String {
        """
        SELECT \(eventColumns), running FROM (
            SELECT \(eventColumns), sum(octet_length(data)) OVER (ORDER BY id) AS running FROM (
                SELECT \(eventColumns) FROM hookstream_events WHERE id > $1 AND \(condition) ORDER BY id LIMIT $2
            ) AS limited
        ) AS chunk WHERE running - octet_length(data) < $3 ORDER BY id
        """
    }

    /// The events of a ``chunkQuery(where:)``, and whether they ended at its byte bound (`bytes`, its `$3`) rather than at
    /// the last event it could take.
    static func chunk(_ result: PostgresQueryResult, bytes: Int) throws -> (events: [Event], cutByBytes: Bool) {
        let cutByBytes = try result.rows.last.map {
            try $0.decode((Int64, String, String, ByteBuffer, Bool, Int64, String, Int64).self).7 >= bytes
        } ?? false
        return (try events(result), cutByBytes)
    }

    /// Reads events from rows of ``eventColumns``.
    static func events(_ rows: PostgresQueryResult) throws -> [Event] {
        var events: [Event] = []
        for row in rows {
            let (id, topic, type, data, isJSON, time, source) = try row.decode((Int64, String, String, ByteBuffer, Bool, Int64, String).self)
            let text = String(buffer: data)
            events.append(Event(id: EventID(id), topic: topic, type: type, data: isJSON ? .json(text) : .text(text), timestamp: time, source: source))
        }
        return events
    }
}
