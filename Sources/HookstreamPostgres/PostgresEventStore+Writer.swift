public import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

// The writer: appends go to the database one commit at a time, each commit taking everything that waits by then
// (group commit). It runs on the futures of its connection's event loop, not in a task: an append and its answer then
// cross no thread besides that loop's (the HTTP server's, in the daemon), where a task cost two hops a commit.
extension PostgresEventStore {
    public func append(batches: [EventBatch], completion: @escaping @Sendable (Result<[[Event]], any Error>) -> Void) {
        enum Next { case refuse, queued, commit([PendingAppend]) }
        let next = writer.withLockedValue { state -> Next in
            guard !state.isClosed else { return .refuse }
            state.pending.append(PendingAppend(batches: batches, completion: completion))
            guard !state.isCommitting else { return .queued }
            state.isCommitting = true
            defer { state.pending.removeAll() }
            return .commit(state.pending)
        }
        switch next {
        case .refuse: completion(.failure(closedError))
        case .queued: break
        case .commit(let group): commit(group)
        }
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
    /// in order, then commits what waits meanwhile, or goes idle.
    private func commit(_ group: [PendingAppend]) {
        let timestamp = now()
        var drafts: [EventDraft] = []
        var deliveries: [(key: DeliveryKey, first: Int, count: Int)] = []
        for append in group {
            for batch in append.batches {
                if let key = batch.delivery { deliveries.append((key, drafts.count, batch.drafts.count)) }
                drafts += batch.drafts
            }
        }
        guard !drafts.isEmpty || !deliveries.isEmpty else {
            return finish(group, .success(0), timestamp: timestamp)
        }
        let query = PostgresSchema.appendQuery(drafts, deliveries: deliveries, time: timestamp, instance: instance)
        writerConnection().flatMap { connection in
            connection.query(query, logger: self.logger)
        }.flatMapThrowing { result -> EventID in
            guard let row = result.rows.first else {
                throw StoreError(.writeFailed, "the store's last_id row is missing from hookstream_meta")
            }
            return EventID(try row.decode(Int64.self))
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

    /// Tells each append of `group` its events (numbered after `base`) or the failure, records how the store is doing,
    /// and starts the next commit with what waits.
    private func finish(_ group: [PendingAppend], _ result: Result<EventID, any Error>, timestamp: Int64) {
        switch result {
        case .success(let base):
            var next = base + 1
            let numbered = group.map { append in
                append.batches.map { batch in
                    batch.drafts.map { draft in
                        defer { next += 1 }
                        return Event(id: next, draft: draft, timestamp: timestamp)
                    }
                }
            }
            if next > base + 1 { knownLastID.withLockedValue { $0 = max($0, next - 1) } }
            let recovered = writer.withLockedValue { state in
                defer { state.lastCommitFailure = nil }
                return state.lastCommitFailure != nil
            }
            if recovered { logger.notice("The PostgreSQL store takes events again", metadata: ["store": "\(settings.location)"]) }
            for (append, batches) in zip(group, numbered) { append.completion(.success(batches)) }
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
            let failure = StoreError(.writeFailed, "the PostgreSQL store \(settings.location) cannot store events: \(message)")
            for append in group { append.completion(.failure(failure)) }
        }
        enum Next { case idle([CheckedContinuation<Void, Never>]), commit([PendingAppend]) }
        let next = writer.withLockedValue { state -> Next in
            guard state.pending.isEmpty else {
                defer { state.pending.removeAll() }
                return .commit(state.pending)
            }
            state.isCommitting = false
            defer { state.drained.removeAll() }
            return .idle(state.drained)
        }
        switch next {
        case .commit(let waiting): commit(waiting)
        case .idle(let drained): for continuation in drained { continuation.resume() }
        }
    }
}
