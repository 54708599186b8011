import CHookstreamSystemd
#if canImport(Glibc)
import Glibc
#endif

/// The journal's native socket (`/run/systemd/journal/socket`): each entry one datagram, or, when it is too large
/// for one, a sealed memfd holding it, passed as the datagram's only content (`sd_journal_send(3)` does the same).
public final class JournalSocket: Sendable {
    /// Where journald listens.
    public static let defaultPath = "/run/systemd/journal/socket"

    private let destination: UnixDatagram
    private let descriptor: CInt
    /// The path, for messages.
    public let path: String

    /// Opens a socket for sending to `path`; `nil` when that is not a usable address.
    public init?(path: String = JournalSocket.defaultPath) {
        guard let destination = UnixDatagram(address: path) else { return nil }
        let descriptor = UnixDatagram.openSocket()
        guard descriptor >= 0 else { return nil }
        self.destination = destination
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// Sends an encoded entry; returns `false` when the journal did not take it.
    func send(_ entry: [UInt8]) -> Bool {
        guard let error = destination.send(entry, on: descriptor) else { return true }
        guard error == EMSGSIZE || error == ENOBUFS else { return false }
        return sendThroughMemoryFile(entry)
    }

    private func sendThroughMemoryFile(_ entry: [UInt8]) -> Bool {
        let file = hookstream_memfd_create("hookstream-journal")
        guard file >= 0 else { return false }
        defer { close(file) }
        var written = 0
        while written < entry.count {
            let n = entry.withUnsafeBytes { write(file, $0.baseAddress! + written, $0.count - written) }
            guard n > 0 else { return false }
            written += n
        }
        guard hookstream_memfd_seal(file) == 0 else { return false }
        return destination.path.withUnsafeBytes { path in
            hookstream_send_fd(descriptor, path.baseAddress!.assumingMemoryBound(to: CChar.self), path.count, file) >= 0
        }
    }
}
