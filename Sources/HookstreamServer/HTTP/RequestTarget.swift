/// The path and query of a request target, percent-decoded.
struct RequestTarget: Sendable {
    var path: String
    var query: [(name: String, value: String)]

    init(_ uri: String) {
        var uri = uri
        // One pass over the bytes for where the query starts and whether the path has a `%` to decode: `?` and `%`
        // are ASCII, and a Character search would break graphemes on every request.
        let (queryOffset, pathHasPercent) = uri.withUTF8 { bytes -> (Int?, Bool) in
            var hasPercent = false
            for (offset, byte) in bytes.enumerated() {
                if byte == UInt8(ascii: "?") { return (offset, hasPercent) }
                if byte == UInt8(ascii: "%") { hasPercent = true }
            }
            return (nil, hasPercent)
        }
        let pathPart: Substring
        let queryPart: Substring?
        if let queryOffset {
            let q = uri.utf8.index(uri.utf8.startIndex, offsetBy: queryOffset)
            pathPart = uri[..<q]
            queryPart = uri[uri.utf8.index(after: q)...]
        } else {
            pathPart = Substring(uri)
            queryPart = nil
        }
        path = pathHasPercent ? RequestTarget.percentDecode(pathPart, plusIsSpace: false) : String(pathPart)
        query = []
        if let queryPart {
            for pair in queryPart.split(separator: "&", omittingEmptySubsequences: true) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = RequestTarget.percentDecode(parts[0], plusIsSpace: true)
                let value = parts.count > 1 ? RequestTarget.percentDecode(parts[1], plusIsSpace: true) : ""
                query.append((name, value))
            }
        }
    }

    /// All values of a query parameter, in order.
    func values(_ name: String) -> [String] { query.filter { $0.name == name }.map(\.value) }

    /// The first value of a query parameter.
    func value(_ name: String) -> String? { query.first { $0.name == name }?.value }

    static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) || (plusIsSpace && text.utf8.contains(UInt8(ascii: "+"))) else {
            return String(text)
        }
        let bytes = percentDecodedBytes(Array(text.utf8)[...], plusIsSpace: plusIsSpace)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes `input` stands for. As WHATWG's percent-decode: a `%` not followed by two hex digits stays as it is,
    /// and so do the bytes after it.
    static func percentDecodedBytes(_ input: ArraySlice<UInt8>, plusIsSpace: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count)
        var i = input.startIndex
        while i < input.endIndex {
            let b = input[i]
            if b == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%"), i + 2 < input.endIndex, let hv = hexValue(input[i + 1]), let lv = hexValue(input[i + 2]) {
                bytes.append(hv << 4 | lv)
                i += 2
            } else {
                bytes.append(b)
            }
            i += 1
        }
        return bytes
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
