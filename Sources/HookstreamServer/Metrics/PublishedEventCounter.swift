import HookstreamCore

/// Counts every event the broker releases, whichever way it was published (webhook, socket, publish API).
final class PublishedEventCounter: EventSink, Sendable {
    private let metrics: ServerMetrics

    init(metrics: ServerMetrics) { self.metrics = metrics }

    func enqueue(_ events: [EncodedEvent]) {
        metrics.published(events.count)
    }
}
