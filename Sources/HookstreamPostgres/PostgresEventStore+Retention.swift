public import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

extension PostgresEventStore {
    /// One pass of retention, by the instance that holds the retention lock (the others return `0` at once): the
    /// remembered deliveries past their age; events past their age; each topic's oldest past its bound; the oldest,
    /// whatever their topic, past the store's bound (counting what the others left); then the marks of topics left
    /// with no event are folded past their bound. Each deletion is a short transaction of at most
    /// ``pruneChunk`` rows, so appends interleave with a long pass.
    @discardableResult
    public func applyRetention(_ retention: Retention, now: Int64) async throws -> Int {
        do {
            // A connection of its own for the pass (once a minute by default): with the database away, the pass fails
            // within the connect timeout instead of waiting in the pool, and a stop never waits for it.
            let connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 3, logger: logger)
            do {
                let removed = try await pruneUnderLock(retention, now: now, connection)
                try? await connection.close()
                return removed
            } catch {
                try? await connection.close()
                throw error
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw StoreError(.writeFailed, "pruning the PostgreSQL store \(settings.location) failed: \(PostgresEventStore.describe(error))")
        }
    }

    /// The pass, if this instance gets the retention lock; `0` if another holds it.
    private func pruneUnderLock(_ retention: Retention, now: Int64, _ connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.rows("SELECT pg_try_advisory_lock(\(PostgresEventStore.retentionLock))", logger: logger)
        var locked = false
        if let row = rows.first { locked = try row.decode(Bool.self) }
        guard locked else {
            logger.debug("Another instance is applying retention to the PostgreSQL store; this one skips its pass")
            return 0
        }
        // The lock is the session's: closing the connection after the pass releases it, whatever happened.
        return try await prune(retention, now: now, connection)
    }

    private func prune(_ retention: Retention, now: Int64, _ connection: PostgresConnection) async throws -> Int {
        if let cutoff = retention.deliveryCutoff(now: now) {
            try await connection.rows("DELETE FROM hookstream_deliveries WHERE time < \(cutoff)", logger: logger)
        }
        var removed = 0
        // Events too old are a prefix of the ids (time grows with them): up to the first that is young enough.
        if let cutoff = retention.cutoff(now: now) {
            let rows = try await connection.rows(
                "SELECT id FROM hookstream_events WHERE time >= \(cutoff) ORDER BY id LIMIT 1", logger: logger)
            var firstYoung = Int64.max
            if let row = rows.first { firstYoung = try row.decode(Int64.self) }
            removed += try await deletePrefix(before: firstYoung, connection)
        }
        // Each topic past its bound: found by one walk of the topic index, then cut by a seek each.
        let over = try await connection.rows(
            "SELECT topic FROM hookstream_events GROUP BY topic HAVING count(*) > \(retention.maxEventsPerTopic)", logger: logger)
        let topics = try over.map { try $0.decode(String.self) }
        for topic in topics {
            let rows = try await connection.rows(
                """
                SELECT id FROM hookstream_events WHERE topic = \(topic) ORDER BY id DESC LIMIT 1 OFFSET \(retention.maxEventsPerTopic)
                """, logger: logger)
            var newestDropped: Int64?
            if let row = rows.first { newestDropped = try row.decode(Int64.self) }
            guard let newestDropped else { continue }
            removed += try await deleteChunks(connection) { connection in
                try await connection.rows(
                    """
                    DELETE FROM hookstream_events WHERE id IN (
                        SELECT id FROM hookstream_events WHERE topic = \(topic) AND id <= \(newestDropped) ORDER BY id LIMIT \(PostgresEventStore.pruneChunk)
                    ) RETURNING id, topic
                    """, logger: logger)
            }
        }
        if let maxEvents = retention.maxEvents {
            let counted = try await connection.rows("SELECT count(*) FROM hookstream_events", logger: logger)
            var total = 0
            if let row = counted.first { total = try row.decode(Int.self) }
            if total > maxEvents {
                let rows = try await connection.rows(
                    "SELECT id FROM hookstream_events ORDER BY id LIMIT 1 OFFSET \(total - maxEvents)", logger: logger)
                var firstKept: Int64?
                if let row = rows.first { firstKept = try row.decode(Int64.self) }
                if let firstKept {
                    let cut = try await deletePrefix(before: firstKept, connection)
                    removed += cut
                    if cut > 0 {
                        logger.notice(
                            "Retention pruned the oldest events, across topics, past store.retention.max_events",
                            metadata: ["store": "\(settings.location)", "max_events": "\(maxEvents)", "hookstream.pruned": "\(cut)"])
                    }
                }
            }
        }
        try await foldForgottenMarks(keeping: retention.forgottenTopicMarks, connection)
        return removed
    }

    /// Deletes the events before `bound`, a chunk at a time.
    private func deletePrefix(before bound: Int64, _ connection: PostgresConnection) async throws -> Int {
        try await deleteChunks(connection) { connection in
            try await connection.rows(
                """
                DELETE FROM hookstream_events WHERE id IN (
                    SELECT id FROM hookstream_events WHERE id < \(bound) ORDER BY id LIMIT \(PostgresEventStore.pruneChunk)
                ) RETURNING id, topic
                """, logger: logger)
        }
    }

    /// Runs `delete` (which returns the deleted rows' id and topic, at most ``pruneChunk``) in transactions until it
    /// deletes less than a chunk; each transaction raises the marks of the topics it cut and lists those it left with
    /// no event. Returns how many rows went.
    private func deleteChunks(
        _ connection: PostgresConnection, _ delete: (PostgresConnection) async throws -> PostgresQueryResult
    ) async throws -> Int {
        var removed = 0
        while true {
            try Task.checkCancellation()  // a stop ends the pass between two chunks; the next pass goes on
            let count = try await connection.transaction(logger: logger) { connection -> Int in
                var marks: [String: Int64] = [:]
                var count = 0
                let deleted = try await delete(connection)
                for row in deleted {
                    let (id, topic) = try row.decode((Int64, String).self)
                    marks[topic] = max(marks[topic] ?? 0, id)
                    count += 1
                }
                guard !marks.isEmpty else { return 0 }
                let names = Array(marks.keys)
                let ids = names.map { marks[$0]! }
                try await connection.rows(
                    """
                    INSERT INTO hookstream_topics (name, pruned_through) SELECT * FROM unnest(\(names)::text[], \(ids)::bigint[])
                    ON CONFLICT (name) DO UPDATE SET pruned_through = GREATEST(hookstream_topics.pruned_through, excluded.pruned_through)
                    """, logger: logger)
                // A topic that comes back later stays listed; its row is kept while it has events (see the fold).
                try await connection.rows(
                    """
                    INSERT INTO hookstream_forgotten_topics (name, pruned_through)
                    SELECT name, pruned_through FROM hookstream_topics t WHERE name = ANY(\(names)::text[])
                    AND NOT EXISTS (SELECT 1 FROM hookstream_events e WHERE e.topic = t.name)
                    ON CONFLICT (name) DO UPDATE SET pruned_through = excluded.pruned_through
                    """, logger: logger)
                return count
            }
            removed += count
            if count < PostgresEventStore.pruneChunk { return removed }
        }
    }

    /// Folds the lowest marks of forgotten topics into `forgotten_floor` while more than `limit` are listed, and
    /// deletes their rows (a topic that came back keeps its own).
    private func foldForgottenMarks(keeping limit: Int, _ connection: PostgresConnection) async throws {
        let counted = try await connection.rows("SELECT count(*) FROM hookstream_forgotten_topics", logger: logger)
        var listed = 0
        if let row = counted.first { listed = try row.decode(Int.self) }
        guard listed > limit else { return }
        try await connection.transaction(logger: logger) { connection in
            let rows = try await connection.rows(
                """
                SELECT name, pruned_through FROM hookstream_forgotten_topics ORDER BY pruned_through, name LIMIT \(listed - limit)
                """, logger: logger)
            var names: [String] = []
            var floor: Int64 = 0
            for row in rows {
                let (name, mark) = try row.decode((String, Int64).self)
                names.append(name)
                floor = max(floor, mark)
            }
            try await connection.rows(
                "UPDATE hookstream_meta SET value = GREATEST(value, \(floor)) WHERE key = 'forgotten_floor'", logger: logger)
            try await connection.rows("DELETE FROM hookstream_forgotten_topics WHERE name = ANY(\(names)::text[])", logger: logger)
            try await connection.rows(
                """
                DELETE FROM hookstream_topics t WHERE name = ANY(\(names)::text[])
                AND NOT EXISTS (SELECT 1 FROM hookstream_events e WHERE e.topic = t.name)
                """, logger: logger)
        }
    }
}
