import HookstreamCore
import Logging
import NIOCore

#if Postgres
import HookstreamPostgres
#endif

/// Opens the stores that live outside `HookstreamServer` (which opens the memory and SQLite stores itself).
enum StoreOpener {
    /// The configured store when it is one `Hookstream` does not open: PostgreSQL's. `nil` for the others.
    /// - Throws: ``StoreError`` when the store cannot be opened, or this build has no such store.
    /// - Parameter eventLoop: where the store's writer runs (the HTTP server's loop: an append then crosses no thread).
    static func open(_ configuration: Configuration, eventLoop: any EventLoop, logger: Logger) async throws(StoreError) -> (any EventStore)? {
        guard configuration.store.kind == .postgres else { return nil }
        guard let settings = configuration.store.postgres else {
            throw StoreError(.unavailable, "store.kind postgres needs store.postgres (where the database is)")
        }
        #if Postgres
        return try await PostgresEventStore.open(settings, writerLoop: eventLoop, logger: logger)
        #else
        _ = (settings, eventLoop)
        throw StoreError(.unavailable, "store.kind postgres: this hookstream was built without the Postgres trait (swift build --traits Postgres)")
        #endif
    }

    /// Where the store is, for the start's log line: the SQLite file, the PostgreSQL database (no password), or `-`.
    static func location(_ configuration: Configuration) -> String {
        switch configuration.store.kind {
        case .sqlite: return configuration.store.path
        case .postgres: return configuration.store.postgres?.location ?? "-"
        case .memory: return "-"
        }
    }
}
