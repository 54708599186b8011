import HookstreamCore
import NIOHTTP1

/// A request target in absolute form, `http://host:port/path?query` (RFC 9112 3.2.2), as clients send it to a proxy.
/// An origin server must accept it too, and take the request's host from it rather than from the `Host` header, so
/// the connection handler turns such a request into the origin form (`/path?query`, the `Host` set to the target's
/// authority) before anything reads it.
struct AbsoluteFormTarget: Sendable {
    /// The target's host and port: the request's host, in place of whatever its `Host` header said.
    var authority: String
    /// The path and query; `/` when the target names none.
    var originForm: String

    /// `nil` when `uri` is not an `http` or `https` URI: the origin form every browser sends (`/path`), the asterisk
    /// form (`*`) or the authority form of a `CONNECT` (`host:port`), which the router answers as it always did.
    /// - Throws: `400 invalid_target` for an absolute target without a host, or one that names a user
    ///   (`http://user@host/`; RFC 9110 4.2.4: used to hide the host from someone reading the link).
    init?(_ uri: String) throws(HTTPError) {
        let bytes = uri.utf8
        // The origin form first, before anything costs: it is what all but a proxy's client send.
        guard let first = bytes.first, first != UInt8(ascii: "/") else { return nil }
        let schemeEnd: String.Index
        if AbsoluteFormTarget.hasPrefix(bytes, "http://") {
            schemeEnd = bytes.index(bytes.startIndex, offsetBy: 7)
        } else if AbsoluteFormTarget.hasPrefix(bytes, "https://") {
            schemeEnd = bytes.index(bytes.startIndex, offsetBy: 8)
        } else {
            return nil
        }
        let rest = uri[schemeEnd...]
        let authorityEnd =
            rest.utf8.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        if authority.utf8.contains(UInt8(ascii: "@")) {
            throw HTTPError(.badRequest, code: "invalid_target", "the request target names a user before its host; send the path only")
        }
        // A host as a Host header may carry it: a name or an address, perhaps a port (`http://:8080/` has none).
        if HostAllowList.name(ofHostHeader: String(authority)) == nil {
            throw HTTPError(.badRequest, code: "invalid_target", "the request target is an absolute URI without a valid host")
        }
        let pathAndQuery = rest[authorityEnd...]
        self.authority = String(authority)
        switch pathAndQuery.utf8.first {
        case UInt8(ascii: "/"): originForm = String(pathAndQuery)
        case UInt8(ascii: "?"): originForm = "/" + pathAndQuery
        default: originForm = "/"  // nothing after the host, or only a fragment (never part of a request)
        }
    }

    /// Whether `bytes` start with the ASCII `prefix`, letters in any case (schemes are case-insensitive).
    private static func hasPrefix(_ bytes: String.UTF8View, _ prefix: StaticString) -> Bool {
        guard bytes.count >= prefix.utf8CodeUnitCount else { return false }
        var index = bytes.startIndex
        for i in 0..<prefix.utf8CodeUnitCount {
            let expected = prefix.utf8Start[i]
            let byte = bytes[index]
            // Lowercase an ASCII letter by its 0x20 bit; the prefix's other characters (`:`, `/`) compare as they are.
            let folded = (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) ? byte | 0x20 : byte
            guard folded == expected else { return false }
            index = bytes.index(after: index)
        }
        return true
    }
}
