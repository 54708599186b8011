#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Standard error as a stream of log lines, each written whole by one `write(2)`, with the control characters inside
/// a line escaped: the text log format's output (`StreamLogHandler` over it) and the journal handler's fallback.
///
/// Log lines quote what senders sent (a topic a rule rendered from a payload, a refused field): a newline in one
/// would start a line of the sender's own making in the log, which a reader or a log shipper takes for the daemon's.
public struct StandardErrorLines: TextOutputStream, Sendable {
    public init() {}

    public mutating func write(_ string: String) {
        StandardErrorLines.escaped(string).withUnsafeBytes(writeToStandardError)
    }

    /// `text`'s UTF-8 bytes with every control character but a final newline written as an escape (`\n`, `\r`,
    /// `\t`, `\u{1B}`); a backslash stays as it is, so a message reads as before unless it held a control character.
    static func escaped(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 1)
        let utf8 = text.utf8
        let endsWithNewline = utf8.last == UInt8(ascii: "\n")
        var remaining = utf8.count - (endsWithNewline ? 1 : 0)
        for byte in utf8 {
            guard remaining > 0 else { break }
            remaining -= 1
            switch byte {
            case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): bytes.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): bytes.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20, 0x7F:
                let hex = String(byte, radix: 16, uppercase: true)
                bytes.append(contentsOf: #"\u{"#.utf8)
                bytes.append(contentsOf: hex.utf8)
                bytes.append(UInt8(ascii: "}"))
            default: bytes.append(byte)
            }
        }
        if endsWithNewline { bytes.append(UInt8(ascii: "\n")) }
        return bytes
    }
}

/// All of `bytes` to standard error (a pipe takes a line up to `PIPE_BUF` in one piece, so lines of concurrent
/// loggers do not interleave).
private func writeToStandardError(_ bytes: UnsafeRawBufferPointer) {
    var offset = 0
    while offset < bytes.count {
        let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            return  // nowhere left to say it
        }
        offset += written
    }
}
