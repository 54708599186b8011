import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Talks to systemd's notification socket (`sd_notify(3)`'s protocol, without libsystemd): `READY=1`,
/// `RELOADING=1`, `STOPPING=1`, `STATUS=...`, `WATCHDOG=1`, each a datagram to `$NOTIFY_SOCKET`.
///
/// ```swift
/// if let notifier = SystemdNotifier() { notifier.notify("READY=1", "STATUS=serving") }
/// ```
public struct SystemdNotifier: Sendable {
    private let socket: UnixDatagram
    /// `$NOTIFY_SOCKET`, as given.
    public let address: String

    /// The notifier for `$NOTIFY_SOCKET`; `nil` when the daemon does not run under `Type=notify` (or the address is
    /// not a Unix socket).
    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let address = environment["NOTIFY_SOCKET"], !address.isEmpty, let socket = UnixDatagram(address: address) else { return nil }
        self.address = address
        self.socket = socket
    }

    /// Sends the assignments (`"READY=1"`, `"STATUS=..."`) as one message; returns whether it was sent.
    @discardableResult
    public func notify(_ assignments: String...) -> Bool {
        notify(assignments)
    }

    /// Sends the assignments as one message; returns whether it was sent.
    @discardableResult
    public func notify(_ assignments: [String]) -> Bool {
        // A newline inside a value would start another assignment.
        let text = assignments.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n")
        return socket.send(Array(text.utf8)) == nil
    }

    /// `CLOCK_MONOTONIC` now in microseconds, as `RELOADING=1` wants it in `MONOTONIC_USEC=`.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}
