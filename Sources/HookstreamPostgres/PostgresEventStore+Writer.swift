public import HookstreamCore
import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

// The writer: appends go to the database one commit at a time, each commit taking what waits by then (group commit).
// It runs on the futures of its connection's event loop, not in a task: an append made on that loop (the HTTP server's
// first, in the daemon) and its answer cross no other thread, where a task cost two hops a commit.
extension PostgresEventStore {
    public func append(batches: [EventBatch], completion: @escaping @Sendable (Result<[[Event]], any Error>) -> Void) {
        enum Next { case refuse, queued, commit([PendingAppend]) }
        let next = writer.withLockedValue { state -> Next in
            guard !state.isClosed else { return .refuse }
            state.pending.append(PendingAppend(batches: batches, completion: completion))
            guard !state.isCommitting else { return .queued }
            state.isCommitting = true
            return .commit(PostgresEventStore.takeGroup(&state))
        }
        switch next {
        case .refuse: completion(.failure(closedError))
        case .queued: break
        case .commit(let group): onWriterLoop { self.commit(group) }
        }
    }

    /// Runs `work` on the writer's loop: at once when already there (an append from the HTTP server's loop).
    private func onWriterLoop(_ work: @escaping @Sendable () -> Void) {
        if writerLoop.inEventLoop { work() } else { writerLoop.execute(work) }
    }

    /// Most bytes of event data one commit sends (PostgreSQL takes at most 1 GB in one parameter): what waits past it
    /// goes in the next commit.
    static let groupBytes = 64 << 20

    /// Takes the waiting appends for one commit, oldest first, up to ``groupBytes`` (at least one).
    static func takeGroup(_ state: inout WriterState) -> [PendingAppend] {
        var bytes = 0
        var count = 0
        for append in state.pending {
            let size = append.batches.reduce(0) { $0 + $1.drafts.reduce(0) { $0 + $1.data.text.utf8.count } }
            if count > 0, bytes + size > groupBytes { break }
            bytes += size
            count += 1
        }
        defer { state.pending.removeFirst(count) }
        return Array(state.pending.prefix(count))
    }

    /// Refuses appends from now on, waits until those already made are committed (or failed), and closes the writer's
    /// connection.
    public func close() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = writer.withLockedValue { state -> Bool in
                state.isClosed = true
                guard state.isCommitting else { return true }
                state.drained.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
        let connection = writer.withLockedValue { state in
            defer { state.connection = nil }
            return state.connection
        }
        try? await connection?.close()
    }

    var closedError: StoreError { StoreError(.unavailable, "the PostgreSQL store \(settings.location) is closed") }

    /// Stores `group` in one statement (``PostgresSchema/appendQuery(_:deliveries:time:instance:)``), tells each append,
    /// in order, then commits what waits meanwhile, or goes idle. Runs on the writer's loop: whether the connection is
    /// open is then judged in the same turn as the query is written to it.
    private func commit(_ group: [PendingAppend]) {
        writerLoop.preconditionInEventLoop()
        let timestamp = now()
        var drafts: [EventDraft] = []
        var deliveries: [(key: DeliveryKey, since: Int64, first: Int, count: Int)] = []
        for append in group {
            for batch in append.batches {
                // A delivery that published nothing is not remembered (as in the other stores).
                if let key = batch.delivery, !batch.drafts.isEmpty {
                    deliveries.append((key, batch.deliverySince, drafts.count, batch.drafts.count))
                }
                drafts += batch.drafts
            }
        }
        guard !drafts.isEmpty || !deliveries.isEmpty else {
            return finish(group, .success((0, [])), timestamp: timestamp)
        }
        let query = PostgresSchema.appendQuery(drafts, deliveries: deliveries, time: timestamp, instance: instance)
        let commitNumber = writer.withLockedValue { state in
            state.commits += 1
            return state.commits
        }
        // A server that stops answering (its host gone without a reset) would hold the commit, and every append after
        // it, for as long as TCP takes to give up: past the server's own statement timeout, the connection is closed,
        // which fails the query.
        let deadline = writerLoop.scheduleTask(in: limits.commitDeadline) {
            let stuck = self.writer.withLockedValue { $0.commits == commitNumber && $0.isCommitting ? $0.connection : nil }
            stuck?.close().whenComplete { _ in }
        }
        let started = NIODeadline.now()
        writerConnection().flatMap { connection in
            connection.query(query, logger: self.logger).flatMapErrorThrowing { error in
                // The server's own error ended the statement, and its transaction with it; without one (the connection
                // lost, or closed by the deadline above) the commit may have happened.
                if let psql = error as? PSQLError, psql.serverInfo != nil { throw error }
                throw StoreError(
                    .unconfirmed,
                    "the PostgreSQL store \(self.settings.location) did not confirm a commit: \(PostgresEventStore.describe(error)); it may have been stored")
            }
        }.always { result in
            deadline.cancel()
            if case .success = result { self.commitDuration.recordNanoseconds((NIODeadline.now() - started).nanoseconds) }
        }.flatMapThrowing { result -> (EventID, Set<Int>) in
            guard let row = result.rows.first else {
                throw StoreError(.writeFailed, "the store's last_id row is missing from hookstream_meta")
            }
            let (base, skipped) = try row.decode((Int64, [Int64]).self)
            return (EventID(base), Set(skipped.map { Int($0) }))
        }.whenComplete { result in
            self.finish(group, result, timestamp: timestamp)
        }
    }

    /// The writer's connection: the open one, or a new one (after the first append, or one that broke).
    private func writerConnection() -> EventLoopFuture<PostgresConnection> {
        if let open = writer.withLockedValue({ $0.connection }), !open.isClosed {
            return writerLoop.makeSucceededFuture(open)
        }
        return PostgresConnection.connect(on: writerLoop, configuration: connectionConfiguration, id: 2, logger: logger).map { connection in
            self.writer.withLockedValue { $0.connection = connection }
            return connection
        }
    }

    /// Tells each append of `group` its events (numbered after `base`, passing over the batches whose drafts, by their
    /// 1-based places, were `skipped`: their result is empty) or the failure, records how the store is doing, and starts
    /// the next commit with what waits.
    private func finish(_ group: [PendingAppend], _ result: Result<(base: EventID, skipped: Set<Int>), any Error>, timestamp: Int64) {
        switch result {
        case .success(let (base, skipped)):
            var next = base + 1
            var place = 1
            let numbered = group.map { append in
                append.batches.map { batch -> [Event] in
                    defer { place += batch.drafts.count }
                    guard batch.drafts.isEmpty || !skipped.contains(place) else { return [] }
                    return batch.drafts.map { draft in
                        defer { next += 1 }
                        return Event(id: next, draft: draft, timestamp: timestamp)
                    }
                }
            }
            if next > base + 1 { knownLastID.withLockedValue { $0 = max($0, next - 1) } }
            let (recovered, unaware) = writer.withLockedValue { state in
                defer {
                    state.lastCommitFailure = nil
                    state.mayHaveStoredUnawares = false
                }
                return (state.lastCommitFailure != nil, state.mayHaveStoredUnawares)
            }
            if recovered { logger.notice("The PostgreSQL store takes events again", metadata: ["store": "\(settings.location)"]) }
            for (append, batches) in zip(group, numbered) { append.completion(.success(batches)) }
            // A failed commit before this one may have been stored all the same (its transaction settled before this
            // one took the last_id row): the listener reads it, or its ids would hold back these in the broker.
            if unaware { follow.withLockedValue { $0.hear }?.yield() }
        case .failure(let error):
            let (first, broken) = writer.withLockedValue { state in
                defer {
                    state.lastCommitFailure = .now
                    state.mayHaveStoredUnawares = true
                    state.connection = nil
                }
                return (state.lastCommitFailure == nil, state.connection)
            }
            // Its state is unknown after a failure: the next commit connects anew.
            broken?.close().whenComplete { _ in }
            let message = PostgresEventStore.describe(error)
            if first {
                logger.error("The PostgreSQL store cannot store events", metadata: ["store": "\(settings.location)", "error": "\(message)"])
            }
            let failure =
                (error as? StoreError)?.kind == .unconfirmed
                ? StoreError(.unconfirmed, message) : StoreError(.writeFailed, "the PostgreSQL store \(settings.location) cannot store events: \(message)")
            for append in group { append.completion(.failure(failure)) }
        }
        enum Next { case idle([CheckedContinuation<Void, Never>]), commit([PendingAppend]) }
        let next = writer.withLockedValue { state -> Next in
            guard state.pending.isEmpty else { return .commit(PostgresEventStore.takeGroup(&state)) }
            state.isCommitting = false
            defer { state.drained.removeAll() }
            return .idle(state.drained)
        }
        switch next {
        case .commit(let waiting): onWriterLoop { self.commit(waiting) }
        case .idle(let drained): for continuation in drained { continuation.resume() }
        }
    }
}
