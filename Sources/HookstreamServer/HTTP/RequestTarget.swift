/// The path and query of a request target, percent-decoded.
struct RequestTarget: Sendable {
    var path: String
    var query: [(name: String, value: String)]
    /// Whether some percent-encoded bytes were not UTF-8 (they were decoded as U+FFFD).
    private(set) var hasInvalidUTF8 = false

    init(_ uri: String) {
        let pathPart: Substring
        let queryPart: Substring?
        // Byte searches: `?`, `%` and `+` are ASCII, and a Character search would break graphemes on every request.
        if let q = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            pathPart = uri[..<q]
            queryPart = uri[uri.index(after: q)...]
        } else {
            pathPart = Substring(uri)
            queryPart = nil
        }
        path = RequestTarget.percentDecode(pathPart, plusIsSpace: false, invalid: &hasInvalidUTF8)
        query = []
        if let queryPart {
            for pair in queryPart.split(separator: "&", omittingEmptySubsequences: true) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = RequestTarget.percentDecode(parts[0], plusIsSpace: true, invalid: &hasInvalidUTF8)
                let value = parts.count > 1 ? RequestTarget.percentDecode(parts[1], plusIsSpace: true, invalid: &hasInvalidUTF8) : ""
                query.append((name, value))
            }
        }
    }

    /// All values of a query parameter, in order.
    func values(_ name: String) -> [String] { query.filter { $0.name == name }.map(\.value) }

    /// The first value of a query parameter.
    func value(_ name: String) -> String? { query.first { $0.name == name }?.value }

    static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String {
        var invalid = false
        return percentDecode(text, plusIsSpace: plusIsSpace, invalid: &invalid)
    }

    /// Percent-decodes `text`; sets `invalid` when the decoded bytes are not UTF-8 (they become U+FFFD).
    static func percentDecode(_ text: Substring, plusIsSpace: Bool, invalid: inout Bool) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) || (plusIsSpace && text.utf8.contains(UInt8(ascii: "+"))) else {
            return String(text)
        }
        // As WHATWG's percent-decode: a `%` not followed by two hex digits stays as it is, and so do the bytes after it.
        let input = Array(text.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count)
        var i = 0
        while i < input.count {
            let b = input[i]
            if b == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%"), i + 2 < input.count, let hv = hexValue(input[i + 1]), let lv = hexValue(input[i + 2]) {
                bytes.append(hv << 4 | lv)
                i += 2
            } else {
                bytes.append(b)
            }
            i += 1
        }
        if let valid = String(validating: bytes, as: UTF8.self) { return valid }
        invalid = true
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
