import Foundation

/// Rules for topic names: `/`-separated, non-empty segments, no wildcards, no whitespace or control characters,
/// and no `.` or `..` segment (topics often become paths and keys elsewhere, where those mean something).
public enum Topic {
    /// Longest topic name accepted, in UTF-8 bytes.
    public static let maximumLength = 256

    /// Why `name` is not a valid topic, or `nil` when it is.
    public static func validationError(_ name: String) -> String? {
        if name.isEmpty { return "a topic must not be empty" }
        if name.utf8.count > maximumLength { return "a topic is at most \(maximumLength) bytes" }
        // Topics are validated on every publish: check the bytes, and look at Unicode properties only when a
        // topic has non-ASCII characters.
        var segmentLength = 0
        var segmentDots = 0
        var isASCII = true
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "/"):
                if segmentLength == 0 { return "topic '\(name)' has an empty segment" }
                if segmentDots == segmentLength && segmentLength <= 2 { return "topic '\(name)' has a '.' or '..' segment" }
                segmentLength = 0
                segmentDots = 0
                continue
            case UInt8(ascii: "."):
                segmentDots += 1
            case UInt8(ascii: "*"):
                return "topic '\(name)' contains a wildcard; wildcards belong in subscriptions"
            case 0..<0x21, 0x7F:
                return "topic '\(name)' contains whitespace or a control character"
            case 0x80...:
                isASCII = false
            default:
                break
            }
            segmentLength += 1
        }
        if segmentLength == 0 { return "topic '\(name)' has an empty segment" }
        if segmentDots == segmentLength && segmentLength <= 2 { return "topic '\(name)' has a '.' or '..' segment" }
        if !isASCII, name.unicodeScalars.contains(where: { $0.properties.isWhitespace }) {
            return "topic '\(name)' contains whitespace or a control character"
        }
        return nil
    }

    /// Whether `name` is a valid topic.
    public static func isValid(_ name: String) -> Bool { validationError(name) == nil }

    /// `name` in Unicode's composed form (NFC), the one form topics are stored and matched in. Swift compares
    /// strings by canonical equivalence and SQLite by bytes, so `café` typed composed by one publisher and
    /// decomposed by another (as macOS spells file names) was one topic to the store's catalog and two in its
    /// table, and a read by topic found only one spelling's events. ASCII, the usual case, is returned as is.
    public static func canonical(_ name: String) -> String {
        if name.utf8.allSatisfy({ $0 < 0x80 }) { return name }
        return name.precomposedStringWithCanonicalMapping
    }
}
