extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (headers, templates, config values).
    package func trimmingSpaces() -> SubSequence {
        // On the UTF-8 bytes: spaces and tabs are ASCII, so every index found is a character boundary, and
        // no grapheme breaking is needed (this runs on every webhook's Content-Type).
        let bytes = Substring(self).utf8
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start = bytes.index(after: start) }
        while end > start {
            let before = bytes.index(before: end)
            guard bytes[before] == UInt8(ascii: " ") || bytes[before] == UInt8(ascii: "\t") else { break }
            end = before
        }
        return self[start..<end]
    }
}
