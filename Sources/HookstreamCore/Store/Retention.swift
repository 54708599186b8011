/// How long a store keeps events: per topic, by count and by age. Older events are pruned in the background.
public struct Retention: Sendable, Hashable {
    /// Events kept per topic; older ones go first.
    public var maxEventsPerTopic: Int
    /// Events kept in all, across topics; the oldest go first, whatever their topic. `nil` bounds only each topic
    /// (then a source whose topics come from its messages can fill the store with topics).
    public var maxEvents: Int?
    /// Events older than this are pruned; `nil` keeps them regardless of age.
    public var maxAge: Duration?
    /// Remembered webhook deliveries older than this are forgotten; `nil` forgets none.
    public var deliveryMaxAge: Duration?
    /// The retention marks kept of topics that have no event left (for resumes that name them). Past this many, the
    /// lowest are folded into one mark for every topic: a resume from before it is told that it may have missed
    /// events, whatever its topics, rather than the store keeping a row for every topic it ever had.
    public var forgottenTopicMarks = 100_000

    public init(maxEventsPerTopic: Int = 10_000, maxEvents: Int? = 1_000_000, maxAge: Duration? = nil, deliveryMaxAge: Duration? = nil) {
        self.maxEventsPerTopic = maxEventsPerTopic
        self.maxEvents = maxEvents
        self.maxAge = maxAge
        self.deliveryMaxAge = deliveryMaxAge
    }

    /// The timestamp (ms since the epoch) before which events are too old at `now`, if there is an age bound.
    package func cutoff(now: Int64) -> Int64? {
        maxAge.map { now - $0.milliseconds }
    }

    /// The time before which remembered deliveries are forgotten at `now`, if they are forgotten at all.
    package func deliveryCutoff(now: Int64) -> Int64? {
        deliveryMaxAge.map { now - $0.milliseconds }
    }
}
