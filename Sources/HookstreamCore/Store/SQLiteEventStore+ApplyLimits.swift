extension SQLiteEventStore {
    /// What the append log may hold that SQLite has not taken yet (`store.sync: normal`): unapplied events are held
    /// in memory as well, for reads, so they are bounded by bytes as well as by count.
    struct ApplyLimits: Sendable {
        /// Unapplied events past which an apply starts at once, rather than after ``SQLiteEventStore/applyDelay``;
        /// also the most one apply's transaction takes (with ``batchBytes``).
        var batchEvents = 1_000
        /// Bytes of unapplied events (their ``Event/pageBytes``) past which an apply starts at once: 1,000 events of
        /// 1 MiB would otherwise wait for their apply in 1 GiB of memory.
        var batchBytes = 16 << 20
        /// Unapplied events past which appends are refused (SQLite keeps failing: a full disk, a lock held by
        /// another process); they are answered `503 store_unavailable` until SQLite takes what waits.
        var maximumEvents = 100_000
        /// Bytes of unapplied events past which appends are refused, for the same reason.
        var maximumBytes = 256 << 20

        /// Whether `events` waiting, of `bytes`, reach the bound past which appends are refused.
        func areReached(events: Int, bytes: Int) -> Bool {
            events >= maximumEvents || bytes >= maximumBytes
        }

        /// How many of `entries`, from the first, one apply takes: those up to and including the entry at which
        /// their events reach ``batchEvents`` or their bytes ``batchBytes`` (the batch whose crossing started an
        /// apply at once is applied whole).
        func entriesInBatch(_ entries: [AppendLogEntry]) -> Int {
            var events = 0
            var bytes = 0
            for (index, entry) in entries.enumerated() {
                events += entry.events.count
                bytes += entry.events.pageBytes
                if events >= batchEvents || bytes >= batchBytes { return index + 1 }
            }
            return entries.count
        }
    }
}
