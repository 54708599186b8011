/// Drafts stored together, and the webhook delivery they answer, if it is to be remembered: the store records the
/// delivery in the same transaction as the events, so a redelivery after a crash still finds it.
public struct EventBatch: Sendable {
    public var drafts: [EventDraft]
    /// The delivery to remember, for answering its redeliveries with these events' ids.
    public var delivery: DeliveryKey?

    public init(_ drafts: [EventDraft], delivery: DeliveryKey? = nil) {
        self.drafts = drafts
        self.delivery = delivery
    }
}
