/// A JSON value that keeps object members in their original order and numbers as written.
///
/// Webhook bodies are re-emitted as event data, so a round trip must not reorder keys or
/// change `1.0` into `1`: the numbers keep their literal text.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number, as its literal JSON text.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([Member])

    /// One member of a JSON object.
    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSONValue
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The value of the first member named `key`, if this is an object that has one.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    /// The string, if this is a JSON string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Follows a dotted path (`a.b.0.c`) through objects and arrays.
    public func value(atPath path: some Sequence<Substring>) -> JSONValue? {
        value(atPath: path.map(String.init))
    }

    /// Follows a path given as its components (`["a", "b", "0", "c"]`) through objects and arrays.
    public func value(atPath path: [String]) -> JSONValue? {
        var current = self
        for component in path {
            switch current {
            case .object:
                guard let next = current[component] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(component), elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    /// The compact JSON encoding of this value.
    public var jsonText: String {
        // Written as bytes into one buffer, then made a string once: a webhook's body is re-encoded on every publish,
        // and appending its pieces to a `String` one by one cost several times as many instructions.
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The text a template substitutes for this value: strings as they are, everything else as JSON.
    public var templateText: String {
        if case .string(let s) = self { return s }
        return jsonText
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .string(let s): JSONValue.appendString(s, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                e.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.appendString(m.key, to: &out)
                out.append(UInt8(ascii: ":"))
                m.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `s` as a JSON string (quoted, escaped) to UTF-8 bytes being written. Escaping works on bytes: the
    /// characters JSON escapes are ASCII, and no byte of a multi-byte UTF-8 sequence is ASCII, so every other byte is
    /// copied as it is.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        var s = s
        // Over the string's contiguous UTF-8 (a native string's own storage): one loop and one copy, not a walk
        // through `String.UTF8View`'s indices.
        s.withUTF8 { appendUTF8($0, to: &out) }
    }

    private static func appendUTF8(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var start = 0
        for (index, byte) in bytes.enumerated() {
            let escape: UInt8
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): escape = byte
            case UInt8(ascii: "\n"): escape = UInt8(ascii: "n")
            case UInt8(ascii: "\r"): escape = UInt8(ascii: "r")
            case UInt8(ascii: "\t"): escape = UInt8(ascii: "t")
            case 0x08: escape = UInt8(ascii: "b")
            case 0x0C: escape = UInt8(ascii: "f")
            case ..<0x20: escape = UInt8(ascii: "u")
            default: continue  // copied with the run it belongs to
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
            start = index + 1
            out.append(UInt8(ascii: "\\"))
            out.append(escape)
            if escape == UInt8(ascii: "u") {  // \u00XX, in lower-case hex
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(JSONValue.hexDigit(byte >> 4))
                out.append(JSONValue.hexDigit(byte & 0x0F))
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        out.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}
