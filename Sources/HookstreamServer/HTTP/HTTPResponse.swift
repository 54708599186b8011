import HookstreamCore
import NIOCore
public import NIOHTTP1

/// A complete (non-streaming) HTTP/1.1 response, serialised by hand: the pipeline has no response encoder,
/// because event streams write pre-encoded frames straight to the socket.
public struct HTTPResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: [(String, String)]
    public var body: String

    public init(status: HTTPResponseStatus, headers: [(String, String)] = [], body: String) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The headers of a JSON response, made once: an array literal of strings is a new array each time it is written,
    /// and every publish is answered in JSON.
    static let jsonHeaders = [("Content-Type", "application/json")]

    /// A JSON response.
    public static func json(_ status: HTTPResponseStatus, _ value: JSONValue) -> HTTPResponse {
        HTTPResponse(status: status, headers: jsonHeaders, body: value.jsonText + "\n")
    }

    /// The response for an ``HTTPError``.
    public init(error: HTTPError) {
        self.init(status: error.status, headers: HTTPResponse.jsonHeaders + error.headers, body: error.body + "\n")
    }

    /// The response as HTTP/2 takes it (through an HTTP/1-style codec): a head without connection headers, and the
    /// body.
    func parts(extraHeaders: [(String, String)] = []) -> (HTTPResponseHead, ByteBuffer) {
        var fields = HTTPHeaders()
        for (name, value) in headers + extraHeaders { fields.add(name: name.lowercased(), value: value) }
        if status != .noContent { fields.add(name: "content-length", value: String(body.utf8.count)) }
        return (HTTPResponseHead(version: .http2, status: status, headers: fields), ByteBuffer(string: body))
    }

    /// - Parameter includeBody: `false` for the answer to a `HEAD` request: the head says the body's length, and
    ///   nothing follows it.
    func encode(keepAlive: Bool, extraHeaders: [(String, String)] = [], includeBody: Bool = true, allocator: ByteBufferAllocator) -> ByteBuffer {
        // Written piece by piece: an interpolated line longer than 15 bytes would be a string allocated per response.
        var buffer = allocator.buffer(capacity: 160 + body.utf8.count)
        if let line = HTTPResponse.statusLine(status) {
            buffer.writeStaticString(line)
        } else {
            buffer.writeStaticString("HTTP/1.1 ")
            buffer.writeString(String(status.code))
            buffer.writeStaticString(" ")
            buffer.writeString(status.reasonPhrase)
            buffer.writeStaticString("\r\n")
        }
        // Each list on its own: `headers + extraHeaders` would be an array made per response.
        func writeFields(_ fields: [(String, String)]) {
            for (name, value) in fields {
                buffer.writeString(name)
                buffer.writeStaticString(": ")
                buffer.writeString(value)
                buffer.writeStaticString("\r\n")
            }
        }
        writeFields(headers)
        writeFields(extraHeaders)
        if status != .noContent {  // a 204 has no body, and says nothing of its length
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(body.utf8.count))
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString(keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n")
        if includeBody { buffer.writeString(body) }
        return buffer
    }

    /// The status line of the answers a server gives most (a publish's 202 above all), written whole.
    private static func statusLine(_ status: HTTPResponseStatus) -> StaticString? {
        switch status {
        case .accepted: "HTTP/1.1 202 Accepted\r\n"
        case .ok: "HTTP/1.1 200 OK\r\n"
        case .noContent: "HTTP/1.1 204 No Content\r\n"
        case .badRequest: "HTTP/1.1 400 Bad Request\r\n"
        case .unauthorized: "HTTP/1.1 401 Unauthorized\r\n"
        case .forbidden: "HTTP/1.1 403 Forbidden\r\n"
        case .notFound: "HTTP/1.1 404 Not Found\r\n"
        default: nil
        }
    }
}
