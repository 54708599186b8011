/// An event as stored: a draft plus its id and the time the store accepted it.
public struct Event: Sendable, Hashable {
    public var id: EventID
    public var topic: String
    /// The SSE `event:` field.
    public var type: String
    public var data: EventData
    /// Milliseconds since the Unix epoch when the store accepted the event.
    public var timestamp: Int64
    public var source: String

    public init(id: EventID, topic: String, type: String, data: EventData, timestamp: Int64, source: String) {
        self.id = id
        self.topic = topic
        self.type = type
        self.data = data
        self.timestamp = timestamp
        self.source = source
    }

    /// Numbers a draft.
    public init(id: EventID, draft: EventDraft, timestamp: Int64) {
        self.init(id: id, topic: draft.topic, type: draft.type, data: draft.data, timestamp: timestamp, source: draft.source)
    }
}
