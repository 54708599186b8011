/// One page of a resuming subscriber's replay: the events after its cursor, and the retention mark of its topics
/// as of the same moment (see ``EventStore/page(after:matching:limit:maxBytes:)``).
public struct ReplayPage: Sendable {
    /// Events after the cursor, in id order (as ``EventStore/events(after:matching:limit:maxBytes:)`` returns them).
    public var events: [Event]
    /// The highest id retention had removed from the topics the page was read for (as
    /// ``EventStore/prunedThrough(matching:)`` says), `0` if none.
    public var prunedThrough: EventID

    public init(events: [Event], prunedThrough: EventID) {
        self.events = events
        self.prunedThrough = prunedThrough
    }
}
