/// One journal entry in the native protocol's encoding: `NAME=value\n`, or, for a value with a newline,
/// `NAME\n`, its length as a little-endian 64-bit number, the bytes, and `\n`.
struct JournalEntry {
    private(set) var bytes: [UInt8] = []

    /// Appends a field; `name` must already be a valid journal field name.
    mutating func append(_ name: String, _ value: String) {
        let utf8 = value.utf8
        bytes.append(contentsOf: name.utf8)
        if utf8.contains(UInt8(ascii: "\n")) {
            bytes.append(UInt8(ascii: "\n"))
            withUnsafeBytes(of: UInt64(utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
        } else {
            bytes.append(UInt8(ascii: "="))
            bytes.append(contentsOf: utf8)
        }
        bytes.append(UInt8(ascii: "\n"))
    }

    /// A journal field name for a metadata key: upper-case letters, digits and `_`, not starting with `_` or a
    /// digit, at most 64 characters; hookstream's own keys (`hookstream.topic`) keep their prefix
    /// (`HOOKSTREAM_TOPIC`), others get it (`error` is `HOOKSTREAM_ERROR`), so no key can pose as a trusted field.
    static func fieldName(forMetadataKey key: String) -> String {
        var name = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "a"..."z": name.unicodeScalars.append(Unicode.Scalar(scalar.value - 32)!)
            case "A"..."Z", "0"..."9": name.unicodeScalars.append(scalar)
            default: name += "_"
            }
        }
        if !name.hasPrefix("HOOKSTREAM_") { name = "HOOKSTREAM_" + name }
        return String(name.prefix(64))
    }
}
