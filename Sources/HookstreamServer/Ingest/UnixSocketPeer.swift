import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a Unix-socket connection, as the kernel vouches (`SO_PEERCRED`, `SO_PEERGROUPS`): the
/// credentials of the process that connected, which it cannot forge.
struct UnixSocketPeer: Sendable, Hashable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
    /// Its supplementary groups when it connected, for `allow_gids` (a user is often a group's member this way).
    var groups: [UInt32] = []

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
        var peer = UnixSocketPeer(pid: Int32(bitPattern: credentials.0), uid: credentials.1, gid: credentials.2)
        // Up to 64 groups (more is ERANGE: the primary group alone counts then). NIO's call does not say how many the
        // kernel wrote into the zeroed buffer; the kernel keeps a process's groups sorted and unique, so they are the
        // leading entries that go up, and the zeros after them are the buffer's.
        //
        // Read as a `SIMD64<UInt32>` returned through `await`, the buffer corrupted the heap in release builds (debug
        // builds were fine): the daemon crashed on the first connection to its socket. Read as plain words and made
        // an array on the event loop, it does not.
        let groups: EventLoopFuture<[UInt32]> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERGROUPS))
            .map { (slots: GroupSlots) in
                UnixSocketPeer.groups(inSortedSlots: withUnsafeBytes(of: slots) { Array($0.bindMemory(to: UInt32.self)) })
            }
        if let groups = try? await groups.get() { peer.groups = groups }
        return peer
    }

    /// 64 group ids, as `getsockopt` fills them: a tuple has C's layout (an array is a reference), and plain words
    /// keep the buffer's alignment at 4.
    typealias GroupSlots = (
        (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
        (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
        (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
        (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)
    )

    /// The groups in a zero-padded buffer of ascending group ids. A lone `0` cannot be told from padding, so group 0
    /// (root) counts only with another group after it.
    static func groups(inSortedSlots slots: [UInt32]) -> [UInt32] {
        guard let first = slots.first else { return [] }
        var groups = [first]
        for id in slots.dropFirst() {
            guard id > groups[groups.count - 1] else { break }
            groups.append(id)
        }
        return groups == [0] ? [] : groups
    }
}
