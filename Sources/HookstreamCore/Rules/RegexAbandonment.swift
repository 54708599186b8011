import Synchronization

/// Tells regex searches running on another thread to stop: the daemon is shutting down, and a message's search may
/// take seconds (``RegexBudget``, up to `server.limits.regex_steps`) that a stop cannot wait for. A search that sees
/// it stops within about a million steps (a few milliseconds), unanswered, as at its step limit, and the message's
/// later searches do not start.
public final class RegexAbandonment: Sendable {
    private let abandoned = Atomic(false)

    public init() {}

    /// Stops every search that reads this flag, now and from now on.
    public func abandon() {
        abandoned.store(true, ordering: .relaxed)
    }

    public var isAbandoned: Bool { abandoned.load(ordering: .relaxed) }
}
