/// Drafts stored together, and the webhook delivery they answer, if it is to be remembered: the store records the
/// delivery in the same transaction as the events, so a redelivery after a crash still finds it.
public struct EventBatch: Sendable {
    public var drafts: [EventDraft]
    /// The delivery to remember, for answering its redeliveries with these events' ids.
    public var delivery: DeliveryKey?
    /// When the delivery's window opened (Unix ms): a store shared with other processes (``SharedEventStore``) that
    /// already holds the delivery, recorded at or after this, stores nothing of the batch, and its result is empty.
    /// (Another instance took the same delivery in the same instant; this process's own redeliveries never get this
    /// far.)
    public var deliverySince: Int64

    public init(_ drafts: [EventDraft], delivery: DeliveryKey? = nil, since: Int64 = .min) {
        self.drafts = drafts
        self.delivery = delivery
        self.deliverySince = since
    }
}
