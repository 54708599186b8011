/// Receives every published event, in id order, already encoded: the stream hubs of the HTTP layer.
public protocol EventSink: AnyObject, Sendable {
    /// Called with consecutive events in id order while the broker holds its ordering lock:
    /// implementations must only queue the events and return, never block or call back into the broker.
    func enqueue(_ events: [EncodedEvent])

    /// Called, in order with ``enqueue(_:)`` and under the same lock, when the events after `id` up to `last` will
    /// never come: a store shared with other processes pruned them before this process read them (its listener was
    /// away longer than retention kept them). Whoever was owed them live should resume from `id`, where the store's
    /// retention marks tell what is gone; whoever comes later is owed what follows `last`. Does nothing unless
    /// implemented.
    func eventsMissed(after id: EventID, through last: EventID)
}

extension EventSink {
    public func eventsMissed(after id: EventID, through last: EventID) {}
}
