import HookstreamCore
import NIOCore

/// The bytes of an event stream on the wire: SSE frames wrapped as HTTP/1.1 chunks, encoded once per event.
enum StreamFraming {
    /// Wraps an SSE payload as one HTTP chunk: `<hex length>\r\n<payload>\r\n`.
    static func chunk(_ payload: ByteBuffer, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        let length = String(payload.readableBytes, radix: 16)
        var buffer = allocator.buffer(capacity: payload.readableBytes + length.utf8.count + 4)
        buffer.writeString(length)
        buffer.writeStaticString("\r\n")
        buffer.writeImmutableBuffer(payload)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    /// One event, as its chunk.
    static func eventChunk(_ event: Event) -> ByteBuffer {
        var payload = ByteBuffer()
        SSEEncoder.writeEvent(event, into: &payload)
        return chunk(payload)
    }

    /// The in-band notice that events the client asked for are gone (retention removed them): the client should
    /// refetch its state. It carries no `id:`, so the client's `Last-Event-ID` stays where it was.
    static func resetChunk(lastEventID: EventID, oldestID: EventID?) -> ByteBuffer {
        let data = JSONValue.object([
            .init("reason", "retention"),
            .init("last_event_id", .number(String(lastEventID))),
            .init("oldest_id", oldestID.map { .number(String($0)) } ?? .null),
        ])
        var payload = ByteBuffer()
        SSEEncoder.writeEvent(id: nil, type: "hookstream.reset", data: data.jsonText, into: &payload)
        return chunk(payload)
    }

    /// A comment, as its chunk.
    static func commentChunk(_ text: String) -> ByteBuffer {
        var payload = ByteBuffer()
        SSEEncoder.writeComment(text, into: &payload)
        return chunk(payload)
    }

    /// The response head of an event stream.
    static let head: ByteBuffer = ByteBuffer(
        string: "HTTP/1.1 200 OK\r\n"
            + "Content-Type: text/event-stream\r\n"
            + "Cache-Control: no-cache\r\n"
            + "X-Accel-Buffering: no\r\n"
            + "Transfer-Encoding: chunked\r\n"
            + "Connection: keep-alive\r\n\r\n")

    /// The first chunk: the `retry:` field and a comment, flushed at once so clients and proxies see the stream open.
    static func greeting(retry: Duration) -> ByteBuffer {
        var payload = ByteBuffer()
        let (seconds, attoseconds) = retry.components
        SSEEncoder.writeRetry(milliseconds: Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000), into: &payload)
        payload.writeStaticString(": hookstream stream open\n\n")
        return chunk(payload)
    }

    /// The terminating chunk of a chunked body.
    static let end = ByteBuffer(string: "0\r\n\r\n")
}
