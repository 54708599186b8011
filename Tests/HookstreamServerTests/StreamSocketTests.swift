#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import Testing

@testable import HookstreamServer

/// Finding a channel's descriptor: only a number that is verifiably this connection's socket is ever used.
@Suite struct StreamSocketTests {
    @Test func theDescriptorIsReadFromNIOsDescription() {
        #expect(StreamSocket.descriptorNumber(in: "SocketChannel { BaseSocket { fd=12 }, active = true }") == 12)
        #expect(StreamSocket.descriptorNumber(in: "SocketChannel { BaseSocket { fd=0 } }") == 0)
        // Bad input: no number, a negative one, or another format altogether.
        #expect(StreamSocket.descriptorNumber(in: "SocketChannel { BaseSocket { fd= } }") == nil)
        #expect(StreamSocket.descriptorNumber(in: "SocketChannel { BaseSocket { fd=-1 } }") == nil)
        #expect(StreamSocket.descriptorNumber(in: "EmbeddedChannel") == nil)
    }

    /// Two connections to one listener: each accepted socket is accepted only with its own addresses, and not
    /// once closed (its number may be reused by then).
    @Test func aDescriptorIsUsedOnlyIfItIsThisConnectionsSocket() throws {
        let listener = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        try withSockaddr(&address) { try check(bind(listener, $0, $1) == 0, "bind") }
        try check(listen(listener, 4) == 0, "listen")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withSockaddr(&address) { pointer, _ in try check(getsockname(listener, pointer, &length) == 0, "getsockname") }

        var clients: [CInt] = []
        var accepted: [CInt] = []
        defer { for fd in clients + accepted { close(fd) } }
        for _ in 0..<2 {
            let client = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
            clients.append(client)
            try withSockaddr(&address) { try check(connect(client, $0, $1) == 0, "connect") }
            let server = accept(listener, nil, nil)
            try check(server >= 0, "accept")
            accepted.append(server)
        }
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)))
        let remotes = try clients.map { try SocketAddress(ipAddress: "127.0.0.1", port: localPort(of: $0)) }

        #expect(StreamSocket(descriptor: accepted[0], local: local, remote: remotes[0])?.descriptor == accepted[0])
        #expect(StreamSocket(descriptor: accepted[1], local: local, remote: remotes[1])?.descriptor == accepted[1])
        // Bad input: the other connection's socket, the client's end, the listener, a closed descriptor.
        #expect(StreamSocket(descriptor: accepted[1], local: local, remote: remotes[0]) == nil)
        #expect(StreamSocket(descriptor: clients[0], local: local, remote: remotes[0]) == nil)
        #expect(StreamSocket(descriptor: listener, local: local, remote: remotes[0]) == nil)
        let closed = accepted.removeFirst()
        close(closed)
        #expect(StreamSocket(descriptor: closed, local: local, remote: remotes[0]) == nil)
    }

    private struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private func check(_ condition: Bool, _ what: String) throws {
        if !condition { throw Failure(description: "\(what) failed: errno \(errno)") }
    }

    private func withSockaddr<T>(_ address: inout sockaddr_in, _ body: (UnsafeMutablePointer<sockaddr>, socklen_t) throws -> T) rethrows -> T {
        try withUnsafeMutablePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    private func localPort(of descriptor: CInt) throws -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withSockaddr(&address) { pointer, _ in try check(getsockname(descriptor, pointer, &length) == 0, "getsockname") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
