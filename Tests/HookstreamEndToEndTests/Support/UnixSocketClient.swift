import Foundation

/// A plain blocking Unix-socket client: writes lines, reads answer lines.
final class UnixSocketClient {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw HarnessError("cannot connect to \(path): errno \(errno)")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) throws {
        try send(bytes: Array(text.utf8))
    }

    /// Writes `bytes` whole; a closed peer is an error, never a SIGPIPE.
    func send(bytes: [UInt8]) throws {
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HarnessError("write failed: errno \(errno)") }
            rest = rest.dropFirst(n)
        }
    }

    /// The next line the server sent, or `nil` at end of stream.
    func readLine() throws -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return nil }
            guard n > 0 else { throw HarnessError("read failed: errno \(errno)") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    /// Shuts down the sending side (`shutdown(SHUT_WR)`, as `nc -N` does after its input): the server sees the end
    /// of what it sends, and answers can still be read.
    func shutdownWrite() throws {
        guard shutdown(fd, Int32(SHUT_WR)) == 0 else { throw HarnessError("shutdown failed: errno \(errno)") }
    }

    /// Sends one line and returns the one-line answer.
    func request(_ line: String) throws -> String {
        try send(line + "\n")
        guard let answer = try readLine() else { throw HarnessError("the socket closed without answering") }
        return answer
    }

    deinit { close(fd) }
}
