/// Receives every published event, in id order, already encoded: the stream hubs of the HTTP layer.
public protocol EventSink: AnyObject, Sendable {
    /// Called with consecutive events in id order while the broker holds its ordering lock:
    /// implementations must only queue the events and return, never block or call back into the broker.
    func enqueue(_ events: [EncodedEvent])
}
