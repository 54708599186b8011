#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The listening sockets systemd passed (socket activation, `sd_listen_fds(3)`'s protocol): `$LISTEN_FDS`
/// descriptors from 3 on, named by `$LISTEN_FDNAMES` (`FileDescriptorName=` in the socket unit), for this process
/// only (`$LISTEN_PID`).
///
/// ```swift
/// let sockets = InheritedSockets.fromEnvironment()
/// if let http = sockets.first(named: "http") { ... ServerBootstrap(...).withBoundSocket(http) }
/// ```
public struct InheritedSockets: Sendable {
    /// The first descriptor systemd passes.
    static let firstDescriptor: CInt = 3

    /// Descriptors by name, in the order passed.
    public let byName: [String: [CInt]]

    public init(byName: [String: [CInt]] = [:]) { self.byName = byName }

    /// Reads the passed sockets from `environment` (the process's by default), if they were passed to this process.
    /// - Parameters:
    ///   - unsetEnvironment: remove `LISTEN_*` so that child processes do not take them too.
    ///   - takeDescriptors: mark the descriptors close-on-exec, so that nothing this process starts inherits them
    ///     (off only where the environment describes descriptors that are not ours: in tests).
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, processID: Int32 = getpid(), unsetEnvironment: Bool = true,
        takeDescriptors: Bool = true
    ) -> InheritedSockets {
        guard let countText = environment["LISTEN_FDS"], let count = Int(countText), count > 0,
            let pidText = environment["LISTEN_PID"], Int32(pidText) == processID
        else { return InheritedSockets() }
        let names = environment["LISTEN_FDNAMES"].map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        var byName: [String: [CInt]] = [:]
        for index in 0..<count {
            let descriptor = firstDescriptor + CInt(index)
            if takeDescriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
            let name = index < names.count && !names[index].isEmpty ? names[index] : "unknown"
            byName[name, default: []].append(descriptor)
        }
        if unsetEnvironment {
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDNAMES")
        }
        return InheritedSockets(byName: byName)
    }

    /// The first socket passed under `name`.
    public func first(named name: String) -> CInt? { byName[name]?.first }

    /// Names passed that hookstream does not use, for a warning.
    public func unused(besides known: Set<String>) -> [String] { byName.keys.filter { !known.contains($0) }.sorted() }
}
