public import NIOCore

/// Encodes Server-Sent Events frames (the `text/event-stream` format of the HTML standard).
///
/// Data is split at every line ending the standard recognises (CRLF, LF, CR) into one `data:`
/// line each, so a client's reassembled `data` equals the original with line endings normalised to LF.
public enum SSEEncoder {
    /// Appends one event frame: `event:` (omitted when empty or `message`, the type a client assumes without one),
    /// `data:` lines, `id:` (omitted when `nil`, so the client keeps its last id), blank line.
    ///
    /// The id comes last: a stream cut mid-frame (a slow subscriber's) ends wherever the kernel had got to, and
    /// clients that take an `id:` as their last id when they read it, not when the event is dispatched as the
    /// standard says (Debian's node-eventsource 2.0), would resume after an event they never had. Last, only a cut
    /// between its line and the blank one can do that.
    public static func writeEvent(id: EventID?, type: String, data: String, into buffer: inout ByteBuffer) {
        if !type.isEmpty && type != "message" {
            buffer.writeStaticString("event: ")
            buffer.writeString(singleLine(type))
            buffer.writeStaticString("\n")
        }
        writeDataLines(data, into: &buffer)
        if let id { writeID(id, into: &buffer) }
        buffer.writeStaticString("\n")
    }

    /// Appends a frame for a stored event.
    public static func writeEvent(_ event: Event, into buffer: inout ByteBuffer) {
        writeEvent(id: event.id, type: event.type, data: event.data.text, into: &buffer)
    }

    /// Appends a comment frame (`: text`), which clients ignore: used for heartbeats and the connect greeting.
    public static func writeComment(_ text: String, into buffer: inout ByteBuffer) {
        for line in lines(of: text) {
            buffer.writeStaticString(":")
            if !line.isEmpty {
                buffer.writeStaticString(" ")
                buffer.writeSubstring(line)
            }
            buffer.writeStaticString("\n")
        }
        buffer.writeStaticString("\n")
    }

    /// Appends an `id:` line: the event's, or on its own in a block without data, the last event id a client keeps.
    public static func writeID(_ id: EventID, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("id: ")
        buffer.writeString(String(id))
        buffer.writeStaticString("\n")
    }

    /// Appends a `retry:` line, the reconnection delay a client should use, in milliseconds.
    public static func writeRetry(milliseconds: Int, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("retry: ")
        buffer.writeString(String(milliseconds))
        buffer.writeStaticString("\n")
    }

    static func writeDataLines(_ data: String, into buffer: inout ByteBuffer) {
        var data = data
        data.withUTF8 { bytes in
            // CR and LF are ASCII, never part of a multi-byte sequence: splitting the UTF-8 bytes is exact.
            var start = 0
            var i = 0
            while i < bytes.count {
                let byte = bytes[i]
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                    buffer.writeStaticString("data: ")
                    buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<i])))
                    buffer.writeStaticString("\n")
                    if byte == UInt8(ascii: "\r"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\n") { i += 1 }
                    start = i + 1
                }
                i += 1
            }
            buffer.writeStaticString("data: ")
            buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<bytes.count])))
            buffer.writeStaticString("\n")
        }
    }

    /// Splits at CRLF, LF and CR, as an SSE parser does; always at least one line.
    static func lines(of text: String) -> [Substring] {
        var result: [Substring] = []
        var start = text.startIndex
        var i = text.startIndex
        // Character iteration treats "\r\n" as one grapheme, which is exactly one line break here.
        while i < text.endIndex {
            let c = text[i]
            if c == "\n" || c == "\r" || c == "\r\n" {
                result.append(text[start..<i])
                i = text.index(after: i)
                start = i
            } else {
                i = text.index(after: i)
            }
        }
        result.append(text[start..<text.endIndex])
        return result
    }

    private static func singleLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) else { return text }
        return String(text.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
    }
}
