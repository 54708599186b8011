import NIOConcurrencyHelpers

/// Counts listeners as they bind, so the daemon can tell when all of them are (readiness for systemd).
final class ListenerCount: Sendable {
    private let state = NIOLockedValueBox((expected: Int.max, bound: 0))

    func expect(_ count: Int) { state.withLockedValue { $0.expected = count } }

    @Sendable func bound() { state.withLockedValue { $0.bound += 1 } }

    var isComplete: Bool { state.withLockedValue { $0.bound >= $0.expected } }
}
