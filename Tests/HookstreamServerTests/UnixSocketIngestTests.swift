import Foundation
import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import HookstreamServer

#if canImport(Glibc)
import Glibc
#endif

/// The socket file's mode and owner as configured, and never through a symbolic link put in its place.
@Suite struct UnixSocketIngestTests {
    /// Error lines a test reads.
    final class Errors: LogHandler, @unchecked Sendable {
        private let lines = NIOLockedValueBox<[String]>([])
        var logLevel: Logger.Level = .error
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { lines.withLockedValue { $0.append("\(event.message)") } }
        var all: [String] { lines.withLockedValue { $0 } }
    }

    private static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "/unix-socket-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private static func mode(_ path: String) -> mode_t {
        var status = stat()
        return stat(path, &status) == 0 ? status.st_mode & 0o7777 : 0
    }

    @Test func aBoundSocketGetsTheConfiguredMode() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/ingest.sock"
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        var socket = Configuration.UnixSocket(path: path)
        socket.mode = 0o620
        let errors = Errors()
        UnixSocketIngest.applyPermissions(socket, logger: Logger(label: "test") { _ in errors })
        #expect(Self.mode(path) == 0o620)
        #expect(errors.all.isEmpty, "\(errors.all)")
    }

    /// Bad input: a symbolic link where the socket was, to a file of the daemon's user. Neither its mode nor its
    /// owner goes to the file it names; the daemon says why it left them.
    @Test func aSymbolicLinkInTheSocketsPlaceIsNotFollowed() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/secret"
        try Data("x".utf8).write(to: URL(fileURLWithPath: target))
        try #require(chmod(target, 0o600) == 0)
        let path = directory + "/ingest.sock"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        var socket = Configuration.UnixSocket(path: path)
        socket.mode = 0o666
        socket.group = getgid()
        let errors = Errors()
        UnixSocketIngest.applyPermissions(socket, logger: Logger(label: "test") { _ in errors })
        #expect(Self.mode(target) == 0o600, "the linked file kept its mode")
        #expect(errors.all == ["The Unix socket's path no longer holds a socket: its mode, owner and group are left as they are"])
    }
}
