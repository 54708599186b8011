import HookstreamCore
import Testing

@testable import HookstreamServer

/// The token bucket behind `rate_limit:`, with the clock given.
@Suite struct WebhookRateLimiterTests {
    let limit = RateLimit(perSecond: 2, burst: 3, text: "2/s")
    let second: UInt64 = 1_000_000_000

    @Test func aBurstThenTheRateAndRefusalsTakeNothing() {
        let limiter = WebhookRateLimiter()
        for _ in 1...3 { #expect(limiter.admit(source: "s", limit: limit, now: 0) == .admitted) }
        #expect(limiter.admit(source: "s", limit: limit, now: 0) == .refused(retryAfter: 1, logRefusals: 1))
        #expect(limiter.admit(source: "s", limit: limit, now: 0) == .refused(retryAfter: 1, logRefusals: nil), "logged once")
        // Half a second refills one at 2/s; the refusals before took nothing from it.
        #expect(limiter.admit(source: "s", limit: limit, now: second / 2) == .admitted)
        #expect(limiter.admit(source: "s", limit: limit, now: second / 2) == .refused(retryAfter: 1, logRefusals: nil))
        // Another source has its own bucket.
        #expect(limiter.admit(source: "other", limit: limit, now: second / 2) == .admitted)
        // Ten seconds after the last log line, the next refusal logs the three since it; the bucket is full again
        // (3, not 20: it holds at most a burst).
        for _ in 1...3 { #expect(limiter.admit(source: "s", limit: limit, now: 11 * second) == .admitted) }
        #expect(limiter.admit(source: "s", limit: limit, now: 11 * second) == .refused(retryAfter: 1, logRefusals: 3))
    }

    /// Two event loops read the clock, then take the lock in the other order: the older reading adds nothing (it
    /// used to wrap around and fill the bucket).
    @Test func aClockReadingOlderThanTheBucketsAddsNothing() {
        let limiter = WebhookRateLimiter()
        for _ in 1...3 { #expect(limiter.admit(source: "s", limit: limit, now: 5 * second) == .admitted) }
        #expect(limiter.admit(source: "s", limit: limit, now: 5 * second - 1) == .refused(retryAfter: 1, logRefusals: 1))
        #expect(limiter.admit(source: "s", limit: limit, now: 5 * second - 2) == .refused(retryAfter: 1, logRefusals: nil))
    }

    @Test func aSlowRateAsksForALongerWaitAndANewLimitStartsAFullBucket() {
        let limiter = WebhookRateLimiter()
        let slow = RateLimit(perSecond: 1.0 / 60, burst: 1, text: "1/m")
        #expect(limiter.admit(source: "s", limit: slow, now: 0) == .admitted)
        #expect(limiter.admit(source: "s", limit: slow, now: 0) == .refused(retryAfter: 60, logRefusals: 1))
        #expect(limiter.admit(source: "s", limit: slow, now: 5 * second) == .refused(retryAfter: 55, logRefusals: nil))
        #expect(limiter.admit(source: "s", limit: slow, now: 30 * second) == .refused(retryAfter: 30, logRefusals: 2))
        // A reload that changes the limit: the source starts over with a full bucket.
        #expect(limiter.admit(source: "s", limit: limit, now: 30 * second) == .admitted)
    }
}
