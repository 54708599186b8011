import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a Unix-socket connection, as the kernel vouches (`SO_PEERCRED`): the credentials
/// of the process that connected, which it cannot forge.
struct UnixSocketPeer: Sendable, Hashable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32

    /// The peer of `channel`, a connected Unix-socket channel; `nil` when the kernel does not say.
    static func of(_ channel: any Channel) async -> UnixSocketPeer? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        // Linux's `struct ucred { pid_t pid; uid_t uid; gid_t gid; }`: three 32-bit fields, in this order (the C type
        // itself is not visible to Swift without _GNU_SOURCE).
        let credentials: (UInt32, UInt32, UInt32)
        do {
            credentials = try await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)).get()
        } catch {
            return nil
        }
        return UnixSocketPeer(pid: Int32(bitPattern: credentials.0), uid: credentials.1, gid: credentials.2)
    }
}
