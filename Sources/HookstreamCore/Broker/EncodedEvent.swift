public import NIOCore

/// An event encoded once for the wire, with what subscribers need to filter it without decoding.
public struct EncodedEvent: Sendable {
    public let id: EventID
    public let topic: String
    /// The topic split at `/`, computed once so that each subscriber's match does not split it again.
    public let topicSegments: [Substring]
    /// The bytes every subscriber receives; shared, never copied per subscriber.
    public let frame: ByteBuffer

    public init(id: EventID, topic: String, frame: ByteBuffer) {
        self.id = id
        self.topic = topic
        self.topicSegments = topic.split(separator: "/", omittingEmptySubsequences: false)
        self.frame = frame
    }
}
