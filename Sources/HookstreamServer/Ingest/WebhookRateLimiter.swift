import HookstreamCore
import NIOConcurrencyHelpers

/// The token buckets of the webhook sources that have a `rate_limit:`, shared by every event loop.
///
/// A refused webhook takes nothing from its bucket. A bucket is made anew when its source's limit changes on a
/// reload. Refusals are logged at most once per ``RefusalLog/interval`` per source, with how many there were, so a
/// flood does not flood the journal too.
final class WebhookRateLimiter: Sendable {
    /// What ``admit(source:limit:now:)`` decided.
    enum Admission: Equatable {
        case admitted
        /// Refused; the bucket has room again in `retryAfter` seconds (at least 1: `Retry-After` counts whole
        /// seconds). `logRefusals` is the count to log now, if it is time to.
        case refused(retryAfter: Int, logRefusals: Int?)
    }

    private struct Bucket {
        var limit: RateLimit
        var tokens: Double
        var updated: UInt64
        var refusals = RefusalLog()
    }

    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])

    /// Takes one webhook of `source` from its bucket at `now` (monotonic nanoseconds), or refuses it.
    func admit(source: String, limit: RateLimit, now: UInt64) -> Admission {
        buckets.withLockedValue { buckets in
            var bucket = buckets[source].flatMap { $0.limit == limit ? $0 : nil }
                ?? Bucket(limit: limit, tokens: Double(limit.burst), updated: now)
            // Loops read the clock before taking the lock: a reading older than the bucket's adds nothing.
            let elapsed = now > bucket.updated ? Double(now - bucket.updated) / 1e9 : 0
            bucket.tokens = min(Double(limit.burst), bucket.tokens + elapsed * limit.perSecond)
            bucket.updated = max(bucket.updated, now)
            defer { buckets[source] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return .admitted
            }
            let log = bucket.refusals.count(now: now)
            // The config takes no rate under 1/h: the wait is at most an hour.
            let wait = min(3600, (1 - bucket.tokens) / limit.perSecond)
            return .refused(retryAfter: max(1, Int(wait.rounded(.up))), logRefusals: log)
        }
    }
}
