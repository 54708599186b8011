/// How long a store keeps events: per topic, by count and by age. Older events are pruned in the background.
public struct Retention: Sendable, Hashable {
    /// Events kept per topic; older ones go first.
    public var maxEventsPerTopic: Int
    /// Events older than this are pruned; `nil` keeps them regardless of age.
    public var maxAge: Duration?
    /// Remembered webhook deliveries older than this are forgotten; `nil` forgets none.
    public var deliveryMaxAge: Duration?

    public init(maxEventsPerTopic: Int = 10_000, maxAge: Duration? = nil, deliveryMaxAge: Duration? = nil) {
        self.maxEventsPerTopic = maxEventsPerTopic
        self.maxAge = maxAge
        self.deliveryMaxAge = deliveryMaxAge
    }

    /// The timestamp (ms since the epoch) before which events are too old at `now`, if there is an age bound.
    func cutoff(now: Int64) -> Int64? {
        maxAge.map { now - $0.milliseconds }
    }

    /// The time before which remembered deliveries are forgotten at `now`, if they are forgotten at all.
    func deliveryCutoff(now: Int64) -> Int64? {
        deliveryMaxAge.map { now - $0.milliseconds }
    }
}
