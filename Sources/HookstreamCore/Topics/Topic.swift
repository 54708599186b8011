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
        if !isASCII { return nonASCIIProblem(name) }
        return nil
    }

    /// What the byte scan cannot see: Unicode whitespace and invisible characters, and a '/' that Swift would
    /// not split at.
    static func nonASCIIProblem(_ name: String) -> String? {
        for scalar in name.unicodeScalars {
            let properties = scalar.properties
            // Bidirectional controls and invisible characters make a topic read otherwise than it is matched. Other
            // format characters stay: the zero-width non-joiner of Persian and Indic text, the soft hyphen, the
            // joiner and tags of emoji sequences.
            if properties.isWhitespace || properties.generalCategory == .control || Topic.isInvisible(scalar) {
                return "topic '\(name)' contains whitespace, a control character, a bidirectional control or an invisible character"
            }
        }
        // Patterns and filters split topics into characters; a '/' joined to a combining mark beside it is no
        // separator there, although it is one in the bytes the checks above read.
        let slashes = name.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "/") ? 1 : 0) }
        if name.split(separator: "/", omittingEmptySubsequences: false).count != slashes + 1 {
            return "topic '\(name)' has a '/' joined to the character beside it (a combining mark after '/' belongs in a segment)"
        }
        return nil
    }

    /// Bidirectional overrides, embeddings, isolates and marks, zero-width spaces and invisible operators.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200B, 0x200E, 0x200F, 0x202A...0x202E, 0x2060...0x2064, 0x2066...0x2069, 0xFEFF: true
        default: false
        }
    }

    /// Whether `name` is a valid topic.
    public static func isValid(_ name: String) -> Bool { validationError(name) == nil }

    /// Whether `text` is in Unicode's composed form (NFC), scalar for scalar: of all the spellings canonically
    /// equivalent to it (which Swift's `==` does not tell apart), the one composed form.
    public static func isComposed(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 < 0x80 } || text.unicodeScalars.elementsEqual(text.precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// `name` in Unicode's composed form (NFC), the one form topics are stored and matched in. Swift compares
    /// strings by canonical equivalence and SQLite by bytes, so `café` typed composed by one publisher and
    /// decomposed by another (as macOS spells file names) was one topic to the store's catalog and two in its
    /// table, and a read by topic found only one spelling's events. ASCII, the usual case, is returned as is.
    public static func canonical(_ name: String) -> String {
        if name.utf8.allSatisfy({ $0 < 0x80 }) { return name }
        return name.precomposedStringWithCanonicalMapping
    }
}
