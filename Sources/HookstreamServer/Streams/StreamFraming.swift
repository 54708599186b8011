import HookstreamCore
import NIOCore
import NIOHTTP1

/// The bytes of an event stream on the wire, encoded once per event.
///
/// A stream's body is the SSE text itself, with no transfer coding: the response declares no length and ends
/// when the connection closes (RFC 9112 §6.3), as nchan does. An event stream only ever ends by closing, so a
/// chunked body would add nothing but a chunk header per write, which every client must parse.
enum StreamFraming {
    /// How a connection's answers are handed to its pipeline.
    enum Kind: Sendable {
        /// HTTP/1.1, plain or under TLS: raw bytes, head and body written by hand.
        case http1
        /// An HTTP/2 stream: response parts, which the stream's codec turns into HEADERS and DATA frames.
        case http2

        /// The protocol's ALPN name, for logs.
        var protocolName: String {
            switch self {
            case .http1: "http/1.1"
            case .http2: "h2"
            }
        }

        /// Body bytes as the pipeline takes them.
        @inline(__always)
        func body(_ bytes: ByteBuffer) -> NIOAny {
            switch self {
            case .http1: NIOAny(bytes)
            case .http2: NIOAny(HTTPServerResponsePart.body(.byteBuffer(bytes)))
            }
        }

        /// What ends a response: nothing more for HTTP/1.1 (the connection's close ends a stream's body), the end
        /// of the stream for HTTP/2.
        var end: NIOAny {
            switch self {
            case .http1: NIOAny(ByteBuffer())
            case .http2: NIOAny(HTTPServerResponsePart.end(nil))
            }
        }
    }

    /// The response head of an event stream, for `kind`, with extra headers (CORS).
    static func head(for kind: Kind, extraHeaders: [(String, String)]) -> NIOAny {
        switch kind {
        case .http1:
            return NIOAny(extraHeaders.isEmpty ? head : head(extraHeaders: extraHeaders))
        case .http2:
            var headers = HTTPHeaders([("content-type", "text/event-stream"), ("cache-control", "no-cache"), ("x-accel-buffering", "no")])
            for (name, value) in extraHeaders { headers.add(name: name.lowercased(), value: value) }
            return NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http2, status: .ok, headers: headers)))
        }
    }

    /// One event, as the bytes every subscriber shares.
    static func eventFrame(_ event: Event) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: event.data.text.utf8.count + event.type.utf8.count + 40)
        SSEEncoder.writeEvent(event, into: &buffer)
        return buffer
    }

    /// The in-band notice that events the client asked for are gone (`retention` removed them), or that its id is
    /// not one this store handed out (`unknown_id`): the client should refetch its state. It carries no `id:`, so
    /// the client's `Last-Event-ID` stays where it was.
    static func resetFrame(lastEventID: EventID, oldestID: EventID?, reason: String = "retention") -> ByteBuffer {
        let data = JSONValue.object([
            .init("reason", .string(reason)),
            .init("last_event_id", .number(String(lastEventID))),
            .init("oldest_id", oldestID.map { .number(String($0)) } ?? .null),
        ])
        var buffer = ByteBuffer()
        SSEEncoder.writeEvent(id: nil, type: "hookstream.reset", data: data.jsonText, into: &buffer)
        return buffer
    }

    /// The reset for a resume point this store never handed out (``resetFrame(lastEventID:oldestID:reason:)`` with
    /// `unknown_id`), then the store's last id in a block without data: the client takes it as its own and dispatches
    /// nothing, so its next resume does not pass over the events that get the ids up to its old one.
    static func unknownIDFrame(lastEventID: EventID, storeLastID: EventID) -> ByteBuffer {
        var buffer = resetFrame(lastEventID: lastEventID, oldestID: nil, reason: "unknown_id")
        SSEEncoder.writeID(storeLastID, into: &buffer)
        buffer.writeStaticString("\n")
        return buffer
    }

    /// The last event of a stream whose token lost its topics in a reload: a reconnect would be refused, so the
    /// client is told why (browsers drop an event without a `data:` line).
    static let revokedFrame: ByteBuffer = {
        var buffer = ByteBuffer()
        SSEEncoder.writeEvent(id: nil, type: "hookstream.revoked", data: #"{"reason":"grant_revoked"}"#, into: &buffer)
        return buffer
    }()

    /// A `retry:` field alone: how long the client should wait before it reconnects.
    static func retryFrame(milliseconds: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        SSEEncoder.writeRetry(milliseconds: milliseconds, into: &buffer)
        buffer.writeStaticString("\n")
        return buffer
    }

    /// A comment (heartbeat).
    static func commentFrame(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        SSEEncoder.writeComment(text, into: &buffer)
        return buffer
    }

    /// The response head of an event stream: no length and no transfer coding, so the body runs until close.
    static let head: ByteBuffer = ByteBuffer(
        string: "HTTP/1.1 200 OK\r\n"
            + "Content-Type: text/event-stream\r\n"
            + "Cache-Control: no-cache\r\n"
            + "X-Accel-Buffering: no\r\n"
            + "Connection: close\r\n\r\n")

    /// The response head with more headers (CORS for a configured origin).
    static func head(extraHeaders: [(String, String)]) -> ByteBuffer {
        var text = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
        for (name, value) in extraHeaders { text += "\(name): \(value)\r\n" }
        return ByteBuffer(string: text + "Connection: close\r\n\r\n")
    }

    /// The last event of a stream whose token expired: the client should come back with a fresh one (browsers drop
    /// an event without a `data:` line).
    static let expiredFrame: ByteBuffer = {
        var buffer = ByteBuffer()
        SSEEncoder.writeEvent(id: nil, type: "hookstream.expired", data: #"{"reason":"token_expired"}"#, into: &buffer)
        return buffer
    }()

    /// The first bytes of the body: the `retry:` field, the stream's starting point as its `id:` when it does not
    /// resume from one, and a comment, flushed at once so clients and proxies see the stream open.
    ///
    /// The `id:` is the last event published before the stream: the block has no `data:`, so a client dispatches
    /// no event, but takes it as its last event id (the SSE spec keeps the id of a block without data). A stream
    /// that ends before its first event then resumes from there, and gets what was published while it was away.
    static func greeting(retry: Duration, startingAfter start: EventID?) -> ByteBuffer {
        var buffer = ByteBuffer()
        let (seconds, attoseconds) = retry.components
        SSEEncoder.writeRetry(milliseconds: Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000), into: &buffer)
        if let start { SSEEncoder.writeID(start, into: &buffer) }
        buffer.writeStaticString(": hookstream stream open\n\n")
        return buffer
    }
}
