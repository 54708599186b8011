public import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

extension PostgresEventStore {
    /// The rows a filter may match, as SQL: its patterns' whole names, and for each literal prefix the range of names
    /// under it (`a/` up to `a0`, '0' following '/' in byte order), so the topic index narrows the read; each row read
    /// is then matched against the patterns themselves. The range operators are `text_pattern_ops`' (byte order,
    /// whatever the database's collation), the index's.
    struct TopicCondition {
        var exact: [String] = []
        var prefixes: [String] = []
        /// A pattern that starts with a wildcard: every topic may match.
        var isEveryTopic = false

        init(_ filter: TopicFilter) {
            for pattern in filter.patterns {
                let (prefix, isWhole) = pattern.literalPrefix
                if isWhole {
                    exact.append(prefix)
                    continue
                }
                if prefix.isEmpty {
                    isEveryTopic = true
                    continue
                }
                // `a` for `a/**` (not for `a/*`), and the names under `a/`.
                if pattern.matches(prefix) { exact.append(prefix) }
                prefixes.append(prefix)
            }
        }

        /// `column` matching the condition, its parameters numbered from `first` on and appended to `binds`; `TRUE`
        /// for every topic.
        func sql(_ column: String, first: Int, binds: inout PostgresBindings) -> String {
            guard !isEveryTopic else { return "TRUE" }
            var parameter = first
            var terms: [String] = []
            if !exact.isEmpty {
                terms.append("\(column) = ANY($\(parameter)::text[])")
                binds.append(exact)
                parameter += 1
            }
            for prefix in prefixes {
                terms.append("(\(column) ~>=~ $\(parameter) AND \(column) ~<~ $\(parameter + 1))")
                binds.append(prefix + "/")
                binds.append(prefix + "0")
                parameter += 2
            }
            return terms.isEmpty ? "FALSE" : "(" + terms.joined(separator: " OR ") + ")"
        }
    }

    public func events(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> [Event] {
        guard limit > 0, maxBytes > 0 else { return [] }
        return try await reading { connection in
            try await PostgresEventStore.read(connection, after: id, matching: filter, limit: limit, maxBytes: maxBytes, logger: self.logger)
        }
    }

    /// The page and the mark in one `REPEATABLE READ` transaction: one snapshot, so a retention pass in between is in
    /// both or in neither.
    public func page(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> ReplayPage {
        try await reading { connection in
            try await connection.transaction(logger: self.logger) { connection in
                try await connection.rows("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: self.logger)
                let events =
                    limit > 0 && maxBytes > 0
                    ? try await PostgresEventStore.read(connection, after: id, matching: filter, limit: limit, maxBytes: maxBytes, logger: self.logger)
                    : []
                let mark = try await PostgresEventStore.prunedThrough(connection, matching: filter, logger: self.logger)
                return ReplayPage(events: events, prunedThrough: mark)
            }
        }
    }

    /// Events after `id` that `filter` matches, in id order, read in chunks of the page's size: a chunk whose rows the
    /// patterns refuse (the prefix is wider than the pattern) is followed by the next. A chunk also ends at the row
    /// whose data reaches `maxBytes` (counted in the database, without reading the data), so that a page of large
    /// events costs about `maxBytes`, not its count of them.
    static func read(
        _ connection: PostgresConnection, after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int, logger: Logger
    ) async throws -> [Event] {
        let condition = TopicCondition(filter)
        let chunk = min(limit, 2_000)
        var found: [Event] = []
        var bytes = 0
        var cursor = EventID(id)
        while true {
            let (events, cutByBytes) = try await readChunk(
                connection, after: cursor, where: condition, rows: chunk, bytes: maxBytes - bytes, logger: logger)
            for event in events {
                cursor = event.id
                guard filter.matches(event.topic) else { continue }
                found.append(event)
                bytes += event.pageBytes
                if found.count >= limit || bytes >= maxBytes { return found }
            }
            if events.count < chunk && !cutByBytes { return found }
        }
    }

    /// The events after `id` in the topics' index ranges (``TopicCondition``), in id order, at most `rows` of them, and
    /// ending in the database at the one whose data reaches `bytes` (a running sum of `octet_length`, which reads no
    /// data); and whether they ended there rather than at the last event there is.
    static func readChunk(
        _ connection: PostgresConnection, after id: EventID, where condition: TopicCondition, rows: Int, bytes: Int, logger: Logger
    ) async throws -> (events: [Event], cutByBytes: Bool) {
        var binds = PostgresBindings()
        binds.append(Int64(id))
        binds.append(rows)
        binds.append(Int64(bytes))
        let sql = PostgresSchema.chunkQuery(where: condition.sql("topic", first: 4, binds: &binds))
        let result = try await connection.rows(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        return try PostgresSchema.chunk(result, bytes: bytes)
    }

    public func prunedThrough(matching filter: TopicFilter) async throws -> EventID {
        try await reading { connection in try await PostgresEventStore.prunedThrough(connection, matching: filter, logger: self.logger) }
    }

    /// The highest mark of a topic `filter` matches, and the floor of the folded marks.
    static func prunedThrough(_ connection: PostgresConnection, matching filter: TopicFilter, logger: Logger) async throws -> EventID {
        var highest = Int64(try await PostgresSchema.meta("forgotten_floor", connection, logger: logger))
        let condition = TopicCondition(filter)
        var binds = PostgresBindings()
        binds.append(highest)
        let names = condition.sql("name", first: 2, binds: &binds)
        let sql = "SELECT name, pruned_through FROM hookstream_topics WHERE pruned_through > $1 AND \(names)"
        let rows = try await connection.rows(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        for row in rows {
            let (name, mark) = try row.decode((String, Int64).self)
            if mark > highest && filter.matches(name) { highest = mark }
        }
        return EventID(highest)
    }
}
