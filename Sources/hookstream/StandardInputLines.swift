import Foundation
import NIOPosix

/// The lines of standard input, as bytes (without their newline), read on a thread of NIO's pool: a pipe may stay
/// quiet for hours (`tail -F … | hookstream publish --lines`), which must not hold a thread of Swift's concurrency.
struct StandardInputLines {
    private var pending: [UInt8] = []
    /// Where the next line starts in `pending`. Lines are taken by moving it on; the bytes before it are dropped when
    /// the next chunk comes, so that a chunk of many short lines is not shifted once per line.
    private var start = 0
    /// How many bytes from `start` are known to hold no newline: a long line is searched once, not again from its
    /// beginning with each chunk (a line of 8 MB took minutes).
    private var searched = 0
    private var ended = false

    /// The next line; the last one may lack its newline. `nil` at the end of the input.
    mutating func next() async throws -> [UInt8]? {
        while true {
            if let newline = pending[(start + searched)...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[start..<newline])
                start = newline + 1
                searched = 0
                return line
            }
            searched = pending.count - start
            if ended {
                guard start < pending.count else { return nil }
                defer { (pending, start, searched) = ([], 0, 0) }
                return Array(pending[start...])
            }
            // `availableData` blocks until some bytes come, and is empty at the end of the input.
            let chunk = try await NIOThreadPool.singleton.runIfActive { FileHandle.standardInput.availableData }
            if chunk.isEmpty {
                ended = true
            } else {
                if start > 0 {
                    pending.removeSubrange(..<start)
                    start = 0
                }
                pending.append(contentsOf: chunk)
            }
        }
    }
}
