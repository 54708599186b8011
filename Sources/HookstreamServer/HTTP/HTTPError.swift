import HookstreamCore
public import NIOHTTP1

/// An error answered to an HTTP client: a status and a message safe to show (never internal details or secrets).
public struct HTTPError: Error, Sendable {
    public var status: HTTPResponseStatus
    /// A short machine-readable code (`unauthorized`, `body_too_large`, ...).
    public var code: String
    public var message: String
    public var headers: [(String, String)]

    public init(_ status: HTTPResponseStatus, code: String, _ message: String, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// The 413 for a body past `server.limits.body_bytes` (`limit`).
    static func bodyTooLarge(limit: Int) -> HTTPError {
        HTTPError(.payloadTooLarge, code: "body_too_large", "the request body is larger than the limit of \(limit) bytes")
    }

    /// The 415 for a body sent with a `Content-Encoding` (other than `identity`), which is not decoded.
    static func compressedBody(encoding: String) -> HTTPError {
        HTTPError(
            .unsupportedMediaType, code: "unsupported_content_encoding",
            "Content-Encoding '\(encoding.prefix(64))' is not supported: send the body uncompressed")
    }

    /// Whether a `Content-Encoding` says the body is as sent (`identity`, in any case, or nothing).
    static func isIdentity(encoding: String) -> Bool {
        let value = encoding.trimmingSpaces()
        return value.isEmpty || value.lowercased() == "identity"
    }

    /// The JSON body: `{"error":"<code>","message":"<message>"}`.
    var body: String {
        JSONValue.object([.init("error", .string(code)), .init("message", .string(message))]).jsonText
    }
}
