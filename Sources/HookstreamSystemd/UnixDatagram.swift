#if canImport(Glibc)
import Glibc
#endif

/// Sends datagrams to a Unix socket address: a path, or an abstract name written with a leading `@` (as systemd
/// writes `NOTIFY_SOCKET`). NIO cannot address abstract sockets, and these messages are rare (readiness, watchdog,
/// log lines), so plain `sendto(2)` on a socket opened for the call does.
struct UnixDatagram: Sendable {
    /// The address as `sockaddr_un.sun_path` takes it: an abstract name starts with NUL and has no terminator.
    let path: [UInt8]

    init?(address: String) {
        var bytes = Array(address.utf8)
        if bytes.first == UInt8(ascii: "@") {
            bytes[0] = 0
        } else {
            guard bytes.first == UInt8(ascii: "/") else { return nil }  // `vsock:` and relative paths are not ours
            bytes.append(0)
        }
        guard bytes.count <= MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        path = bytes
    }

    /// Opens a datagram socket for one use.
    static func openSocket() -> CInt {
        socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    }

    /// Sends `bytes` as one datagram on `socket` (or on one opened for the call); returns `errno` on failure.
    @discardableResult
    func send(_ bytes: [UInt8], on socket: CInt? = nil) -> CInt? {
        let fd = socket ?? UnixDatagram.openSocket()
        guard fd >= 0 else { return errno }
        defer { if socket == nil { close(fd) } }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count)
        let sent = bytes.withUnsafeBytes { payload in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload.baseAddress, payload.count, CInt(MSG_NOSIGNAL), $0, length) }
            }
        }
        return sent < 0 ? errno : nil
    }
}
