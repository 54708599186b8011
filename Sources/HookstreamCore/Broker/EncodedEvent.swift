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
        self.topicSegments = EncodedEvent.segments(of: topic)
        self.frame = frame
    }

    /// `topic` split at `/` as patterns split it, into characters; an ASCII topic (most are) by its bytes, which gives
    /// the same segments for a fraction of the work. (`Topic.validationError` also keeps a `/` from joining the
    /// character beside it, but a topic stored before that check, or by another version, need not have had it.)
    static func segments(of topic: String) -> [Substring] {
        var segments: [Substring] = []
        let bytes = topic.utf8
        var start = bytes.startIndex
        var index = start
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte >= 0x80 { return topic.split(separator: "/", omittingEmptySubsequences: false) }
            let next = bytes.index(after: index)
            if byte == UInt8(ascii: "/") {
                segments.append(topic[start..<index])
                start = next
            }
            index = next
        }
        segments.append(topic[start...])
        return segments
    }
}
