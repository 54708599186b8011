import NIOConcurrencyHelpers
import Synchronization

/// Request body bytes held at once across every connection, from their first byte until their request is answered
/// (`server.limits.buffered_bodies`).
///
/// `body_bytes` bounds one request, but not how many arrive at once: 1,000 HTTP/2 streams of one connection, or
/// thousands of HTTP/1.1 connections, each part way through a large body, would hold that many times `body_bytes`.
/// Past the budget a request is refused with `503 server_busy` and `Retry-After`, and the daemon's memory stays
/// bounded. Shared by every event loop: one atomic exchange per body part. Parts a connection queues while its
/// reading is paused are not counted: that is one read's worth per connection.
final class BodyBudget: Sendable {
    private let held = Atomic<Int>(0)
    private let refusals = NIOLockedValueBox(RefusalLog())

    /// Takes `bytes` out of a budget of `limit` bytes; `false`, with nothing taken, when they do not fit.
    func reserve(_ bytes: Int, limit: Int) -> Bool {
        // Compare and exchange rather than add then take back: two loops near the limit would both be refused.
        var current = held.load(ordering: .relaxed)
        while true {
            guard current + bytes <= limit else { return false }
            let (exchanged, original) = held.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Gives back bytes that ``reserve(_:limit:)`` took.
    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        held.subtract(bytes, ordering: .relaxed)
    }

    /// Bytes held now.
    var heldBytes: Int { held.load(ordering: .relaxed) }

    /// Counts a refusal; returns how many there were since the last log line when it is time for another (at most
    /// one per ``RefusalLog/interval``), so that a flood is logged as a count.
    func refusalToLog(now: UInt64) -> Int? {
        refusals.withLockedValue { $0.count(now: now) }
    }
}
