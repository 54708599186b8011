import NIOCore

/// Splits a byte stream into lines ending at `"\n"`, the newline-delimited JSON framing of the Unix socket.
///
/// NIO's `splitLines` also breaks at a lone CR, VT or FF, so one line holding such a byte would get two answers;
/// here a line ends only where the sender ended it. A `"\r"` before the `"\n"` stays in the line (the message
/// parser drops it). A last line without its `"\n"` counts when the sender closes (or shuts down its side).
///
/// The line limit is the decoder's own, checked against the line it waits for: NIO's `maximumBufferSize` counts
/// every byte buffered, so one read of several short lines (up to 64 KiB) passed for one long line.
struct NewlineFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// A line still without its end past the limit.
    struct LineTooLong: Error {}

    /// Bytes a line may have; a longer one whose end has not arrived fails the decoder (``LineTooLong``). One that
    /// arrived whole with its end can be longer: the caller refuses it.
    let lineLimit: Int
    /// Bytes already searched, so a long line arriving in many reads is scanned once.
    private var searched = 0

    init(lineLimit: Int) {
        self.lineLimit = lineLimit
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let newline = view.dropFirst(searched).firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > lineLimit { throw LineTooLong() }
            searched = view.count
            return nil
        }
        searched = 0
        let line = buffer.readSlice(length: newline - view.startIndex)
        buffer.moveReaderIndex(forwardBy: 1)
        return line
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        if let line = try decode(buffer: &buffer) { return line }
        guard buffer.readableBytes > 0 else { return nil }
        searched = 0
        return buffer.readSlice(length: buffer.readableBytes)
    }
}
