import NIOCore

/// Splits a byte stream into lines ending at `"\n"`, the newline-delimited JSON framing of the Unix socket.
///
/// NIO's `splitLines` also breaks at a lone CR, VT or FF, so one line holding such a byte would get two answers;
/// here a line ends only where the sender ended it. A `"\r"` before the `"\n"` stays in the line (the message
/// parser drops it). A last line without its `"\n"` counts when the sender closes (or shuts down its side).
///
/// The line limit is the decoder's own, checked against the line it waits for: NIO's `maximumBufferSize` counts
/// every byte buffered, so one read of several short lines (up to 64 KiB) passed for one long line. A line past the
/// limit is ``Frame/tooLong`` as soon as it is known to be, and its bytes are passed over up to its end, without being
/// kept: the line after it is read as any other, so one bad line of a long `--lines` run costs that line only.
struct NewlineFrameDecoder: NIOSingleStepByteToMessageDecoder {
    /// What the stream holds next.
    enum Frame {
        /// A line, without its `"\n"`.
        case line(ByteBuffer)
        /// A line longer than the limit (told once, when the limit is passed; the rest of it is dropped).
        case tooLong
    }

    typealias InboundOut = Frame

    /// Bytes a line may have.
    let lineLimit: Int
    /// Bytes already searched, so a long line arriving in many reads is scanned once.
    private var searched = 0
    /// Whether the bytes up to the next `"\n"` belong to a line already told as too long.
    private var isSkipping = false

    init(lineLimit: Int) {
        self.lineLimit = lineLimit
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        if isSkipping {
            guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                return nil
            }
            buffer.moveReaderIndex(to: newline + 1)
            isSkipping = false
        }
        let view = buffer.readableBytesView
        guard let newline = view.dropFirst(searched).firstIndex(of: UInt8(ascii: "\n")) else {
            guard view.count > lineLimit else {
                searched = view.count
                return nil
            }
            searched = 0
            isSkipping = true
            buffer.moveReaderIndex(forwardBy: view.count)
            return .tooLong
        }
        searched = 0
        // One that arrived whole with its end, in one read, can be longer than the limit too.
        guard newline - view.startIndex <= lineLimit else {
            buffer.moveReaderIndex(to: newline + 1)
            return .tooLong
        }
        let line = buffer.readSlice(length: newline - view.startIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        return .line(line)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        guard buffer.readableBytes > 0, !isSkipping else { return nil }
        searched = 0
        return .line(buffer.readSlice(length: buffer.readableBytes)!)
    }
}
