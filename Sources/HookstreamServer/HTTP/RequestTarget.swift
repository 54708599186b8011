/// The path and query of a request target, percent-decoded.
struct RequestTarget: Sendable {
    var path: String
    var query: [(name: String, value: String)]

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
        path = RequestTarget.percentDecode(pathPart, plusIsSpace: false)
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
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let b = iterator.next() {
            if b == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%") {
                guard let h = iterator.next(), let l = iterator.next(), let hv = hexValue(h), let lv = hexValue(l) else {
                    bytes.append(b)
                    continue
                }
                bytes.append(hv << 4 | lv)
            } else {
                bytes.append(b)
            }
        }
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
