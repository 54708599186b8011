public import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

extension PostgresEventStore {
    public func follow(from cursor: @escaping @Sendable () -> EventID, deliver: @escaping @Sendable ([Event], EventID) -> Void) {
        follow.withLockedValue { state in
            state.cursor = cursor
            state.deliver = deliver
        }
    }

    /// Listens for the commits of every instance on a connection of its own, and reads what the others appended.
    /// After each (re)connection it reads everything after the cursor, so a notification lost while the connection was
    /// down loses no event: it only comes late. Reconnects with a growing pause (0.5 s to 10 s) until cancelled.
    func runListener() async {
        guard follow.withLockedValue({ $0.deliver != nil }) else { return }
        var pause = Duration.milliseconds(500)
        var failures = 0
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 1, logger: logger)
                do {
                    try await connection.listen(on: PostgresEventStore.channel) { notifications in
                        // Reads go over this connection too: no wait for the pool, and it is up when they run.
                        try await catchUp(on: connection)
                        setListening(true)
                        if failures > 0 {
                            logger.notice("The PostgreSQL store's listener is connected again", metadata: ["store": "\(settings.location)"])
                        }
                        failures = 0
                        pause = .milliseconds(500)
                        for try await notification in notifications {
                            // This instance's own commits reach its broker from its writer (see ``commit``).
                            let parts = notification.payload.split(separator: " ")
                            guard parts.count == 3, parts[0] != Substring(instance), let last = EventID(parts[2]) else { continue }
                            if last > (follow.withLockedValue { $0.cursor })?() ?? 0 { try await catchUp(on: connection) }
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                setListening(false)
                if Task.isCancelled { return }
                failures += 1
                // Said once, then again only when it comes back; a database that is away says so in every append too.
                if failures == 1 {
                    logger.warning(
                        "The PostgreSQL store's listener lost its connection: events of other instances reach this one's streams once it is back",
                        metadata: ["store": "\(settings.location)", "error": "\(PostgresEventStore.describe(error))"])
                }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(10))
            }
        }
        setListening(false)
    }

    private func setListening(_ listening: Bool) {
        follow.withLockedValue { state in
            state.isListening = listening
            if listening { state.hasListened = true }
        }
    }

    /// Reads every event after the cursor, up to the last id handed out, a page at a time, and hands each page on
    /// with the id up to which it holds every event there is.
    func catchUp(on connection: PostgresConnection) async throws {
        guard let (cursor, deliver) = follow.withLockedValue({ state in state.cursor.flatMap { c in state.deliver.map { (c, $0) } } }) else { return }
        var after = cursor()
        while true {
            // The last id first: every id up to it is committed (ids are handed out and committed in one order), so
            // what the read below does not find was pruned.
            let last = try await PostgresSchema.lastID(connection, logger: logger)
            guard last > after else { return }
            let rows = try await connection.query(
                """
                SELECT \(unescaped: PostgresSchema.eventColumns) FROM hookstream_events
                WHERE id > \(Int64(after)) AND id <= \(Int64(last)) ORDER BY id LIMIT \(PostgresEventStore.catchUpPage)
                """, logger: logger)
            let events = try await PostgresSchema.events(rows)
            let through = events.count == PostgresEventStore.catchUpPage ? events[events.count - 1].id : last
            guard through > after else { return }
            knownLastID.withLockedValue { $0 = max($0, through) }
            deliver(events, through)
            after = max(cursor(), through)
        }
    }
}
