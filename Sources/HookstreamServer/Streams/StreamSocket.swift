#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// The kernel socket under a stream's TCP channel, for writing frames to it directly.
///
/// Why: at a few hundred events a second every event is its own write to every subscriber, and NIO's write path
/// (the pending-writes queue, its bookkeeping, the flush) cost about a tenth of the server's CPU at 100
/// subscribers × 200 events/s, several times what the `send(2)` call itself costs in user space. A frame the
/// kernel takes whole never needs that queue. ``StreamSubscriber`` sends directly while NIO holds nothing
/// for the channel, and hands anything the kernel does not take to NIO, which then owns the order until its
/// queue is empty again.
///
/// NIO has no public accessor for a channel's descriptor; its channels print it (`fd=N`) in their description.
/// ``init(channel:)`` reads it there and checks it against the channel's own local and remote addresses, so a
/// description in another format, or a number that is not this connection's, is never used: the stream then
/// simply writes through NIO, as it always can.
struct StreamSocket {
    let descriptor: CInt

    /// The socket of `channel`, a connected TCP channel; `nil` when it cannot be found and verified.
    init?(channel: any Channel) {
        guard let local = channel.localAddress, let remote = channel.remoteAddress,
            let descriptor = StreamSocket.descriptorNumber(in: String(describing: channel))
        else { return nil }
        self.init(descriptor: descriptor, local: local, remote: remote)
    }

    /// `descriptor`, if it is an open TCP socket connected from `local` to `remote`; `nil` otherwise.
    init?(descriptor: CInt, local: SocketAddress, remote: SocketAddress) {
        guard StreamSocket.address(of: descriptor, peer: false, matches: local),
            StreamSocket.address(of: descriptor, peer: true, matches: remote)
        else { return nil }
        self.descriptor = descriptor
    }

    /// Sends `buffer`'s readable bytes without blocking and without raising `SIGPIPE`; returns how many the
    /// kernel took: all, some, or none (its buffer is full; or the socket failed, and then NIO, handed the rest,
    /// meets the same error and closes the channel).
    func send(_ buffer: ByteBuffer) -> Int {
        max(0, buffer.withUnsafeReadableBytes { bytes in sendWithoutBlocking(descriptor, bytes) })
    }

    /// The number after `fd=` in a NIO channel's description (`SocketChannel { BaseSocket { fd=12 }, ... }`).
    static func descriptorNumber(in description: String) -> CInt? {
        guard let marker = description.firstRange(of: "fd=") else { return nil }
        let digits = description[marker.upperBound...].prefix(while: { $0.isASCII && $0.isNumber })
        guard let number = CInt(digits), number >= 0 else { return nil }
        return number
    }

    /// Whether `descriptor`'s local (or peer) address is `expected` (the same family, address and port).
    private static func address(of descriptor: CInt, peer: Bool, matches expected: SocketAddress) -> Bool {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                peer ? getpeername(descriptor, address, &length) : getsockname(descriptor, address, &length)
            }
        }
        guard status == 0 else { return false }
        let actual: SocketAddress
        switch CInt(storage.ss_family) {
        case AF_INET: actual = SocketAddress(withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) })
        case AF_INET6: actual = SocketAddress(withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) })
        default: return false
        }
        return actual == expected
    }
}

private func sendWithoutBlocking(_ descriptor: CInt, _ bytes: UnsafeRawBufferPointer) -> Int {
    send(descriptor, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL) | CInt(MSG_DONTWAIT))
}
