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

    /// The JSON body: `{"error":"<code>","message":"<message>"}`.
    var body: String {
        JSONValue.object([.init("error", .string(code)), .init("message", .string(message))]).jsonText
    }
}
