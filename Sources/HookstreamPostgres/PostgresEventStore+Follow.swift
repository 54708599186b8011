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
    ///
    /// The connection lives on the writer's event loop, and notifications are first looked at there, in a callback:
    /// this instance's own (one per commit, most of them) are passed over without waking this task.
    func runListener() async {
        guard follow.withLockedValue({ $0.deliver != nil }) else { return }
        var pause = Duration.milliseconds(500)
        var failures = 0
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(on: writerLoop, configuration: connectionConfiguration, id: 1, logger: logger).get()
                let (heard, hear) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                let listening = connection.addListener(channel: PostgresEventStore.channel) { _, notification in
                    if self.needsReading(notification.payload) { hear.yield() }
                }
                connection.closeFuture.whenComplete { _ in hear.finish() }
                do {
                    try await connection.query("LISTEN \(unescaped: PostgresEventStore.channel)", logger: logger)
                    // Reads go over this connection too: no wait for the pool, and it is up when they run.
                    try await catchUp(on: connection)
                    setListening(true)
                    if failures > 0 {
                        logger.notice("The PostgreSQL store's listener is connected again", metadata: ["store": "\(settings.location)"])
                    }
                    failures = 0
                    pause = .milliseconds(500)
                    for await _ in heard {
                        let unaware = writer.withLockedValue { $0.mayHaveStoredUnawares }
                        try await catchUp(on: connection)
                        if unaware { writer.withLockedValue { $0.mayHaveStoredUnawares = false } }
                    }
                    listening.stop()
                    try? await connection.close()
                    if Task.isCancelled { break }
                    throw StoreError(.readFailed, "the listener's connection closed")
                } catch {
                    listening.stop()
                    try? await connection.close()
                    throw error
                }
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

    /// Whether a notification (`<instance> <first id> <last id>`) tells of events this instance must read: another
    /// instance's past the cursor, or its own after a failed commit (which may have been stored all the same, and
    /// whose ids would hold back the next ones), so that the read takes those too.
    private func needsReading(_ payload: String) -> Bool {
        let parts = payload.split(separator: " ")
        guard parts.count == 3, let last = EventID(parts[2]) else { return false }
        let own = parts[0] == Substring(instance)
        if own, !writer.withLockedValue({ $0.mayHaveStoredUnawares }) { return false }
        let behind = last > (follow.withLockedValue { $0.cursor })?() ?? 0
        // An own commit already handed on: nothing before it was held back, so the failed one stored nothing.
        if own, !behind { writer.withLockedValue { $0.mayHaveStoredUnawares = false } }
        return behind
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
