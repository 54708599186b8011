/// Rules for an event's type, the SSE `event:` field that a page's `addEventListener` names.
public enum EventType {
    /// Types the server sends on its own (`hookstream.reset`, `hookstream.expired`, `hookstream.revoked`), which
    /// pages answer by closing or reloading their stream. A webhook or a socket line that could publish one could
    /// close every page that reads its topic.
    public static let reservedPrefix = "hookstream."

    /// Longest type accepted, in UTF-8 bytes.
    public static let maximumLength = 256

    /// Why `type` cannot be the type of a published event, or `nil` when it can.
    public static func validationError(_ type: String) -> String? {
        if type.utf8.count > maximumLength { return "an event type is at most \(maximumLength) bytes" }
        if type.hasPrefix(reservedPrefix) {
            return "event type '\(type)' starts with '\(reservedPrefix)', which is kept for the server's own events"
        }
        // One line: the field ends at a line break, and a type the wire showed otherwise than the store would
        // match no listener.
        // Checked on every event: bytes first, Unicode properties only for a type with non-ASCII characters.
        var isASCII = true
        for byte in type.utf8 {
            if byte < 0x20 || byte == 0x7F { return "an event type must not contain a line break or a control character" }
            if byte >= 0x80 { isASCII = false }
        }
        if !isASCII, type.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "an event type must not contain a line break or a control character"
        }
        return nil
    }
}
