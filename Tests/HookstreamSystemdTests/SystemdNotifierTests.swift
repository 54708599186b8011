import Foundation
import Testing

@testable import HookstreamSystemd

@Suite struct SystemdNotifierTests {
    /// Binds a datagram socket at `address` (a path, or `@name`) and returns its descriptor.
    private func listen(_ address: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let target = try #require(UnixDatagram(address: address))
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: target.path) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + target.path.count)
        let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        #expect(bound == 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    private func receive(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
    }

    @Test(arguments: ["path", "abstract"])
    func messagesReachThePathOrAbstractSocket(kind: String) throws {
        let name = "hookstream-notify-test-\(UUID().uuidString.prefix(8))"
        let address = kind == "path" ? FileManager.default.temporaryDirectory.appendingPathComponent(name).path : "@\(name)"
        let fd = try listen(address)
        defer {
            close(fd)
            if kind == "path" { unlink(address) }
        }
        let notifier = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": address]))
        #expect(notifier.notify("READY=1", "STATUS=serving\nsecretly two lines"))
        #expect(receive(fd) == "READY=1\nSTATUS=serving secretly two lines", "a newline in a value cannot start another assignment")
    }

    @Test func noNotifierOutsideTypeNotify() {
        #expect(SystemdNotifier(environment: [:]) == nil)
        // Bad input: an address that is neither a path nor abstract.
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "vsock:2:1234"]) == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "relative/path"]) == nil)
    }
}
