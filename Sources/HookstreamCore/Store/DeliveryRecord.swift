/// What a remembered delivery published: what its redeliveries are answered with.
public struct DeliveryRecord: Sendable, Hashable {
    public var ids: [EventID]
    public var topics: [String]
    /// When it was stored, in milliseconds since the epoch.
    public var time: Int64

    public init(ids: [EventID], topics: [String], time: Int64) {
        self.ids = ids
        self.topics = topics
        self.time = time
    }

    init(events: [Event], time: Int64) {
        self.init(ids: events.map(\.id), topics: events.map(\.topic), time: time)
    }
}
