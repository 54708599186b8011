extension SQLiteEventStore {
    /// What the append log may hold that SQLite has not taken yet (`store.sync: normal`): unapplied events are held
    /// in memory as well, for reads, so they are bounded by bytes as well as by count.
    struct ApplyLimits: Sendable {
        /// Unapplied events past which an apply starts at once, rather than after ``SQLiteEventStore/applyDelay``.
        var batchEvents = 1_000
        /// Bytes of unapplied events (their ``Event/pageBytes``) past which an apply starts at once: 1,000 events of
        /// 1 MiB would otherwise wait for their apply in 1 GiB of memory.
        var batchBytes = 16 << 20
        /// Unapplied events past which appends are refused (SQLite keeps failing: a full disk, a lock held by
        /// another process); they are answered `503 store_unavailable` until SQLite takes what waits.
        var maximumEvents = 100_000
        /// Bytes of unapplied events past which appends are refused, for the same reason.
        var maximumBytes = 256 << 20
    }
}
