import NIOConcurrencyHelpers

/// Open streams per token (or JWT subject), for `auth.max_streams_per_token`.
final class StreamCounts: Sendable {
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    /// Counts a stream for `identity`, unless it already holds `limit`; returns whether it was counted.
    func acquire(_ identity: String, limit: Int) -> Bool {
        counts.withLockedValue { counts in
            let current = counts[identity, default: 0]
            guard current < limit else { return false }
            counts[identity] = current + 1
            return true
        }
    }

    func release(_ identity: String) {
        counts.withLockedValue { counts in
            let remaining = counts[identity, default: 1] - 1
            counts[identity] = remaining > 0 ? remaining : nil
        }
    }
}
