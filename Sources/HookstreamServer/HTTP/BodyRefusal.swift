import Logging
import NIOHTTP1

/// A request refused from its head, before its body is read: a declared length past `server.limits.body_bytes`, or
/// a compressed body. The daemon and `hookstream route` (``DryRun``) both ask this one check, so a dry run refuses
/// what the daemon would, in its words.
struct BodyRefusal {
    var error: HTTPError
    /// The log line's end: "Request refused: <reason>".
    var reason: String
    var metadata: Logger.Metadata

    /// Why a request with `headers` is refused before its body, or `nil`.
    static func of(_ headers: HTTPHeaders, bodyLimit: Int) -> BodyRefusal? {
        if let length = headers.first(name: "content-length").flatMap(Int.init), length > bodyLimit {
            return .tooLarge(limit: bodyLimit)
        }
        // A compressed body would reach the rules and the signature check as its compressed bytes: a sender that
        // gzips is told so, rather than getting a 401 for a signature that was right or a 400 for JSON that was.
        if let encoding = headers.first(name: "content-encoding"), !HTTPError.isIdentity(encoding: encoding) {
            return BodyRefusal(
                error: .compressedBody(encoding: encoding), reason: "compressed body", metadata: ["content_encoding": "\(encoding.prefix(64))"])
        }
        return nil
    }

    /// A body past `limit` bytes, declared or found while reading it.
    static func tooLarge(limit: Int) -> BodyRefusal {
        BodyRefusal(error: .bodyTooLarge(limit: limit), reason: "body too large", metadata: ["limit": "\(limit)"])
    }
}
