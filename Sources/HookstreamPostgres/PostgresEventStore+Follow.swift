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
                let connection = try await PostgresConnection.connect(on: writerLoop, configuration: connectionConfiguration, id: 1, logger: logger)
                let (heard, hear) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                do {
                    // On the loop, in one turn: the connection is open when the listener is handed to it (one handed to
                    // a connection closing meanwhile would be dropped by PostgresNIO, which traps). It sends `LISTEN`.
                    let listening = try await writerLoop.submit {
                        guard !connection.isClosed else { throw StoreError(.readFailed, "the listener's connection closed") }
                        return connection.addListener(channel: PostgresEventStore.channel) { _, notification in
                            if self.needsReading(notification.payload) { hear.yield() }
                        }
                    }.get()
                    connection.closeFuture.whenComplete { _ in hear.finish() }
                    // Now and then, whatever was heard: a failed commit that was stored all the same, with no commit
                    // after it to tell, is read within this.
                    let sweep = writerLoop.scheduleRepeatedTask(initialDelay: limits.sweep, delay: limits.sweep) { _ in hear.yield() }
                    defer {
                        sweep.cancel()
                        listening.stop()
                        follow.withLockedValue { $0.hear = nil }
                    }
                    follow.withLockedValue { $0.hear = hear }
                    // Reads go over this connection too (they queue behind its LISTEN): no wait for the pool.
                    try await withTaskCancellationHandler {
                        try await catchUp(on: connection, within: limits.catchUpDeadline)
                        setListening(true)
                        if failures > 0 {
                            logger.notice("The PostgreSQL store's listener is connected again", metadata: ["store": "\(settings.location)"])
                        }
                        failures = 0
                        pause = .milliseconds(500)
                        for await _ in heard { try await catchUp(on: connection, within: limits.catchUpDeadline) }
                    } onCancel: {
                        // A query waiting on a server that stopped answering ends when its connection closes.
                        connection.close().whenComplete { _ in }
                    }
                    try? await connection.close()
                    if Task.isCancelled { break }
                    throw StoreError(.readFailed, "the listener's connection closed")
                } catch {
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
    /// instance's, past the cursor. Its own reach its broker from its writer (which wakes this listener itself after
    /// a failed commit).
    private func needsReading(_ payload: String) -> Bool {
        let parts = payload.split(separator: " ")
        guard parts.count == 3, parts[0] != Substring(instance), let last = EventID(parts[2]) else { return false }
        return last > (follow.withLockedValue { $0.cursor })?() ?? 0
    }

    private func setListening(_ listening: Bool) {
        follow.withLockedValue { state in
            state.isListening = listening
            if listening { state.hasListened = true }
        }
    }

    /// Reads every event after the cursor, up to the last id handed out, a page at a time, and hands each page on
    /// with the id up to which it holds every event there is.
    func catchUp(on connection: PostgresConnection, within deadline: TimeAmount) async throws {
        guard let (cursor, deliver) = follow.withLockedValue({ state in state.cursor.flatMap { c in state.deliver.map { (c, $0) } } }) else { return }
        var after = cursor()
        while let (events, through) = try await page(after: after, on: connection, within: deadline) {
            knownLastID.withLockedValue { $0 = max($0, through) }
            // Ids are dense (each append takes the next ones, and a failed one none): what this read lacks was pruned.
            let missed = Int(through - after) - events.count
            if missed > 0 {
                logger.warning(
                    "Events of other instances were pruned from the PostgreSQL store before this instance read them: its open streams are ended, to resume by Last-Event-ID (with a hookstream.reset where their topics lost events)",
                    metadata: ["store": "\(settings.location)", "hookstream.missed": "\(missed)", "hookstream.after_id": "\(after)"])
            }
            deliver(events, through)
            after = max(cursor(), through)
        }
    }

    /// The events after `after` up to the last id handed out, at most a page of them, and the id through which they
    /// are every event there is; `nil` when there is none. Closes the connection if the page takes longer than
    /// `deadline`: a server whose host vanished without a reset answers nothing, and TCP takes many minutes to say so.
    /// Closed, the connection fails the read, and the listener says it is not connected (readiness: degraded) and
    /// connects again. (The sweep reads every 30 s, so a listener that hears nothing finds out too.)
    private func page(after: EventID, on connection: PostgresConnection, within deadline: TimeAmount) async throws -> ([Event], EventID)? {
        let cut = writerLoop.scheduleTask(in: deadline) { connection.close().whenComplete { _ in } }
        defer { cut.cancel() }
        // The last id first: every id up to it is committed (ids are handed out and committed in one order), so what
        // the read below does not find was pruned.
        let last = try await PostgresSchema.lastID(connection, logger: logger)
        guard last > after else { return nil }
        var binds = PostgresBindings()
        binds.append(Int64(after))
        binds.append(PostgresEventStore.catchUpPage)
        binds.append(limits.pageBytes)
        binds.append(Int64(last))
        let result = try await connection.rows(PostgresQuery(unsafeSQL: PostgresSchema.chunkQuery(where: "id <= $4"), binds: binds), logger: logger)
        let (events, cutByBytes) = try PostgresSchema.chunk(result, bytes: limits.pageBytes)
        // A page that ended at its count or its bytes holds every event up to its last; one that did not, up to `last`.
        let through = events.count == PostgresEventStore.catchUpPage || cutByBytes ? events[events.count - 1].id : last
        return through > after ? (events, through) : nil
    }
}
