import HookstreamCore
import Logging
import NIOCore
import PostgresNIO

// Every statement of the store goes through `rows(_:logger:)`, not PostgresNIO's `query`, for one reason: PostgresNIO
// hands a query to its channel with no promise for the write. A query written from another thread reaches the event
// loop after the connection closed (closed by us, by a stop, or by the server) and its pipeline was torn down: the
// write fails unseen, and the query's own future never completes, so whoever awaits it waits for ever (a stop that
// hung a test, seen under load). Written on the loop, after a check in the same turn that the channel is active, it
// reaches PostgresNIO's handler, which fails it when the connection closes.
//
// The same handler is what ends a statement that gets no answer (a server whose host vanished without a reset, which
// TCP takes many minutes to give up on): closing the connection fails it. A statement whose task is cancelled (a
// read past its timeout, a stop) closes its connection for that reason.
extension PostgresConnection {
    /// Runs `query` and returns all its rows; fails at once on a connection that has closed. Cancelled, it closes the
    /// connection, which ends the statement.
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> PostgresQueryResult {
        let answer = eventLoop.flatSubmit { () -> EventLoopFuture<PostgresQueryResult> in
            guard !self.isClosed else {
                return self.eventLoop.makeFailedFuture(StoreError(.readFailed, "the connection to PostgreSQL closed"))
            }
            return self.query(query, logger: logger)
        }
        return try await withTaskCancellationHandler {
            try await answer.get()
        } onCancel: {
            self.close().whenComplete { _ in }
        }
    }

    /// Runs `body` in a transaction (`BEGIN`, then `COMMIT`, or `ROLLBACK` when it throws), each statement through
    /// ``rows(_:logger:)``.
    func transaction<T: Sendable>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await rows("BEGIN", logger: logger)
        let value: T
        do {
            value = try await body(self)
        } catch {
            _ = try? await rows("ROLLBACK", logger: logger)
            throw error
        }
        try await rows("COMMIT", logger: logger)
        return value
    }
}
