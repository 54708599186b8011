import Synchronization

/// Whether `READY=1` has gone out: the watchdog starts pinging only after it, so that systemd never sees a
/// `WATCHDOG=1` before the service is up.
public final class ReadyAnnouncement: Sendable {
    private let announced = Atomic<Bool>(false)

    public init() {}

    /// Whether `READY=1` was sent.
    public var isAnnounced: Bool { announced.load(ordering: .acquiring) }

    func markAnnounced() { announced.store(true, ordering: .releasing) }
}
