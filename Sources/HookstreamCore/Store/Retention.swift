/// How long a store keeps events: per topic, by count and by age. Older events are pruned in the background.
public struct Retention: Sendable, Hashable {
    /// Events kept per topic; older ones go first.
    public var maxEventsPerTopic: Int
    /// Events older than this are pruned; `nil` keeps them regardless of age.
    public var maxAge: Duration?

    public init(maxEventsPerTopic: Int = 10_000, maxAge: Duration? = nil) {
        self.maxEventsPerTopic = maxEventsPerTopic
        self.maxAge = maxAge
    }

    /// The timestamp (ms since the epoch) before which events are too old at `now`, if there is an age bound.
    func cutoff(now: Int64) -> Int64? {
        guard let maxAge else { return nil }
        let (seconds, attoseconds) = maxAge.components
        return now - (seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
