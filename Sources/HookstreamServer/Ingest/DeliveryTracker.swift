import HookstreamCore
import NIOConcurrencyHelpers

/// The deliveries being handled right now, so that a redelivery arriving while its original is still in flight
/// waits for it and gets its outcome instead of publishing a second time. (The store remembers deliveries once they
/// are committed; this covers the moment before.)
final class DeliveryTracker: Sendable {
    typealias Waiter = @Sendable (PublishOutcome) -> Void

    /// Whether the caller handles the delivery or waits for whoever does.
    enum Claim {
        case first
        case waiting
    }

    private let inFlight = NIOLockedValueBox<[DeliveryKey: [Waiter]]>([:])

    /// Claims `key`: `.first` when no one handles it (the caller must call ``finish(_:outcome:)``), otherwise
    /// `.waiting`, and `waiter` gets the first one's outcome.
    func claim(_ key: DeliveryKey, waiter: @escaping Waiter) -> Claim {
        inFlight.withLockedValue { inFlight in
            if inFlight[key] != nil {
                inFlight[key]!.append(waiter)
                return .waiting
            }
            inFlight[key] = []
            return .first
        }
    }

    /// Ends the handling of `key`; every waiter gets `outcome`, as a redelivery.
    func finish(_ key: DeliveryKey, outcome: PublishOutcome) {
        let waiters = inFlight.withLockedValue { $0.removeValue(forKey: key) } ?? []
        for waiter in waiters { waiter(outcome.forRedeliveries) }
    }
}
