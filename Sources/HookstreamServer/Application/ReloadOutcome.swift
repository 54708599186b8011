import HookstreamCore

/// What a reload did.
public struct ReloadOutcome: Sendable, Hashable {
    /// Streams ended because their token no longer grants their topics.
    public var streamsEnded: Int
    /// Settings that changed in the file but keep their old value until a restart (listeners, store, event loops).
    public var needsRestart: [String]

    /// The settings bound at start whose value in `new` differs from the one in force: `bound`'s, the configuration
    /// the daemon started with (not the last reload's: a reload that left such a setting as the one before it changed
    /// it still needs the restart, and one that puts it back needs none). `streams.queue` applies to new streams, so
    /// it is told when it changes from `previous`.
    static func settingsNeedingRestart(bound old: Configuration, previous: Configuration, to new: Configuration) -> [String] {
        var changed: [String] = []
        if old.server.listen != new.server.listen { changed.append("server.listen") }
        if (old.server.tls == nil) != (new.server.tls == nil) { changed.append("server.tls (on or off; a new certificate applies at once)") }
        if old.server.eventLoopThreads != new.server.eventLoopThreads { changed.append("server.event_loop_threads") }
        if old.server.unixSocket?.path != new.server.unixSocket?.path { changed.append("server.unix_socket.path") }
        if old.server.unixSocket?.lineLimit != new.server.unixSocket?.lineLimit { changed.append("server.unix_socket.line_bytes") }
        if old.store.kind != new.store.kind { changed.append("store.kind") }
        if old.store.path != new.store.path { changed.append("store.path") }
        if old.store.postgres != new.store.postgres { changed.append("store.postgres") }
        if old.store.synchronous != new.store.synchronous { changed.append("store.sync") }
        // The memory store drops past its per-topic bound as it appends, with the bound it was made with: a higher one
        // takes a restart; a lower one its retention passes apply from the next.
        if new.store.kind == .memory, new.store.retention.maxEventsPerTopic > old.store.retention.maxEventsPerTopic {
            changed.append("store.retention.max_events_per_topic (raised: the memory store keeps at most the bound it started with)")
        }
        if previous.streams.queue != new.streams.queue { changed.append("streams.queue (open streams keep theirs)") }
        return changed
    }
}
