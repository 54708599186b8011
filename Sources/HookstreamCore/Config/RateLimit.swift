/// A source's `rate_limit:`: webhooks past it get `429` until the source has room again (a token bucket: `burst`
/// at once, refilled at `perSecond`).
///
/// ```yaml
/// rate_limit: 20/s                         # 20 a second, up to 20 at once
/// rate_limit: { rate: 600/m, burst: 50 }   # 10 a second on average, up to 50 at once
/// ```
public struct RateLimit: Sendable, Hashable {
    /// Webhooks a second, on average.
    public var perSecond: Double
    /// Webhooks taken at once after a quiet spell.
    public var burst: Int
    /// The rate as the config wrote it (`20/s`), for messages.
    public var text: String

    public init(perSecond: Double, burst: Int, text: String) {
        self.perSecond = perSecond
        self.burst = burst
        self.text = text
    }

    /// Webhooks a second for `N/s`, `N/m` or `N/h`, N a number from 1 to 1,000,000,000 (so from one an hour); `nil`
    /// for anything else.
    public static func perSecond(parsing text: String) -> Double? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Double(parts[0].trimmingSpaces()), count >= 1, count <= 1e9 else { return nil }
        let seconds: Double
        switch parts[1].trimmingSpaces() {
        case "s": seconds = 1
        case "m": seconds = 60
        case "h": seconds = 3600
        default: return nil
        }
        return count / seconds
    }
}
