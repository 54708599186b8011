#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif

/// An append-only file of ``AppendLogEntry``s: what ``SQLiteEventStore`` writes first, with one `write(2)` per
/// append, before SQLite has the events. Each entry is framed by its length and a CRC-32, so that reading back
/// after a crash stops at the first entry that is not whole.
///
/// Not thread-safe: the store uses it under its lock.
final class AppendLog: @unchecked Sendable {  // used under SQLiteEventStore's log lock only
    /// A failed system call on the log: what failed and the system's reason.
    struct Failure: Error, CustomStringConvertible {
        let operation: String
        let code: CInt
        /// What to say instead of the system's message, where it would not tell what to do.
        var detail: String? = nil
        var description: String { "\(operation) failed: \(detail ?? String(cString: strerror(code)))" }
    }

    /// The file.
    let path: String
    private let descriptor: CInt
    /// Bytes of whole entries in the file; a failed append is cut back to it.
    private(set) var size: Int
    /// A failed append left bytes after ``size`` that could not be cut off yet: later entries would be unreadable
    /// behind them, so the next append cuts them first, or fails.
    private var isTorn = false
    private var frame: [UInt8] = []

    /// Entries longer than this are refused (and a length above it, read back, marks a torn entry).
    static let maximumEntryBytes = 1 << 30

    /// Opens (creating if needed) the log at `path`, positioned to append.
    init(path: String) throws(Failure) {
        // Events: the daemon's user only. Not through a symbolic link: the log is emptied after each apply and read
        // into the store at start, so one planted beside the database could empty another file or inject events.
        let descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            let code = errno
            if code == ELOOP { throw Failure(operation: "open", code: code, detail: "'\(path)' is a symbolic link, and the append log must be a file of its own") }
            throw Failure(operation: "open", code: code)
        }
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else {
            let code = errno
            close(descriptor)
            throw Failure(operation: "lseek", code: code)
        }
        self.path = path
        self.descriptor = descriptor
        self.size = Int(end)
    }

    deinit { close(descriptor) }

    /// Appends `entry` with one `write`. On failure (a full disk) the file is cut back to its size before, so that
    /// no torn entry hides the entries appended after it.
    func append(_ entry: AppendLogEntry) throws(Failure) {
        if isTorn {
            guard ftruncate(descriptor, off_t(size)) == 0 else { throw Failure(operation: "ftruncate", code: errno) }
            isTorn = false
        }
        // The frame's header (length, CRC-32) is filled in once the entry is encoded behind it.
        frame.removeAll(keepingCapacity: true)
        frame.append(contentsOf: repeatElement(0, count: 8))
        entry.encode(into: &frame)
        let length = frame.count - 8
        guard length <= Self.maximumEntryBytes else { throw Failure(operation: "append", code: EFBIG) }
        let crc = frame.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[8...])) }
        frame.withUnsafeMutableBytes { header in
            header.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 0, as: UInt32.self)
            header.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
        var written = 0
        let failure: Failure? = frame.withUnsafeBytes { bytes in
            while written < bytes.count {
                let result = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    return Failure(operation: "write", code: errno)
                }
                written += result
            }
            return nil
        }
        if let failure {
            if written > 0, ftruncate(descriptor, off_t(size)) != 0 { isTorn = true }
            throw failure
        }
        size += frame.count
    }

    /// Empties the file (every entry is in SQLite).
    func truncate() throws(Failure) {
        guard ftruncate(descriptor, 0) == 0 else { throw Failure(operation: "ftruncate", code: errno) }
        size = 0
        isTorn = false
    }

    /// Every whole entry from the start of the file, and the bytes they take: reading stops at the first entry
    /// that is cut short, fails its checksum or cannot be decoded (a crash or power loss mid-append).
    func readEntries() throws(Failure) -> (entries: [AppendLogEntry], bytes: Int) {
        var contents = [UInt8](repeating: 0, count: max(0, Int(lseek(descriptor, 0, SEEK_END))))
        var filled = 0
        while filled < contents.count {
            let result = contents.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, $0.count - filled, off_t(filled)) }
            if result < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "read", code: errno)
            }
            if result == 0 { break }
            filled += result
        }
        var entries: [AppendLogEntry] = []
        var offset = 0
        contents.withUnsafeBytes { bytes in
            while filled - offset >= 8 {
                let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                let crc = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                guard length <= Self.maximumEntryBytes, filled - offset - 8 >= length else { return }
                let payload = UnsafeRawBufferPointer(rebasing: bytes[offset + 8..<offset + 8 + length])
                guard CRC32.checksum(payload) == crc, let entry = try? AppendLogEntry(decoding: payload) else { return }
                entries.append(entry)
                offset += 8 + length
            }
        }
        return (entries, offset)
    }
}
