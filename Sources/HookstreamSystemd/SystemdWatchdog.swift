public import Logging
public import ServiceLifecycle
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Keeps systemd's watchdog (`WatchdogSec=`) fed, but only with proof of life: every half period it runs a probe
/// (the daemon's event loops and store must answer) and sends `WATCHDOG=1` only when the probe answered. A hung
/// daemon stops answering, stops the pings, and systemd kills and restarts it; a timer alone would keep it alive.
public struct SystemdWatchdog<C: Clock>: Service, CustomStringConvertible where C.Duration == Duration {
    /// The name swift-service-lifecycle logs as `sl-service` (the default would print every stored property).
    public var description: String { "SystemdWatchdog" }

    private let notifier: SystemdNotifier
    /// Half of `$WATCHDOG_USEC`.
    public let interval: Duration
    private let probe: @Sendable () async -> Bool
    private let isReady: @Sendable () -> Bool
    private let clock: C
    private let logger: Logger

    /// The watchdog systemd asked for, or `nil` when it asked for none (no `$WATCHDOG_USEC`, or `$WATCHDOG_PID` names
    /// another process).
    public init?(
        notifier: SystemdNotifier?, environment: [String: String] = ProcessInfo.processInfo.environment, processID: Int32 = getpid(),
        clock: C, isReady: @escaping @Sendable () -> Bool = { true }, probe: @escaping @Sendable () async -> Bool, logger: Logger
    ) {
        guard let notifier, let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], Int32(pid) != processID { return nil }
        self.notifier = notifier
        self.interval = .microseconds(microseconds / 2)
        self.probe = probe
        self.isReady = isReady
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        logger.info("systemd watchdog armed", metadata: ["interval": "\(interval)"])
        // Pings start once the daemon serves (after READY=1): until then systemd's start timeout applies.
        do {
            try await cancelWhenGracefulShutdown {
                while !isReady() { try await clock.sleep(for: .milliseconds(10)) }
            }
        } catch {
            return
        }
        while !Task.isShuttingDownGracefully {
            // A probe that never answers keeps this loop here: no more pings, and systemd steps in.
            if await probe() {
                notifier.notify("WATCHDOG=1")
            } else {
                logger.warning("Watchdog probe failed; not notifying systemd")
            }
            do {
                try await cancelWhenGracefulShutdown { try await clock.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
