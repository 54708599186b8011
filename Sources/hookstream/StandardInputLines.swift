import Foundation
import NIOPosix

/// The lines of standard input, as bytes (without their newline), read on a thread of NIO's pool: a pipe may stay
/// quiet for hours (`tail -F … | hookstream publish --lines`), which must not hold a thread of Swift's concurrency.
struct StandardInputLines {
    private var pending: [UInt8] = []
    private var ended = false

    /// The next line; the last one may lack its newline. `nil` at the end of the input.
    mutating func next() async throws -> [UInt8]? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                return line
            }
            if ended {
                guard !pending.isEmpty else { return nil }
                defer { pending = [] }
                return pending
            }
            // `availableData` blocks until some bytes come, and is empty at the end of the input.
            let chunk = try await NIOThreadPool.singleton.runIfActive { FileHandle.standardInput.availableData }
            if chunk.isEmpty { ended = true } else { pending.append(contentsOf: chunk) }
        }
    }
}
