import HookstreamCore
import Logging
import NIOCore
import NIOHTTP1

/// Publishes drafts through an event loop's batcher, once per delivery: a batch that names a delivery (a webhook's
/// delivery id, a publish request's `id`) seen within its window is answered with the first delivery's ids and
/// publishes nothing, even when the two arrive at the same moment or across a restart (the store keeps the
/// delivery with its events).
final class Publisher: Sendable {
    private let store: any EventStore
    private let jobs: JobRunner
    private let logger: Logger
    private let tracker = DeliveryTracker()

    init(store: any EventStore, jobs: JobRunner, logger: Logger) {
        self.store = store
        self.jobs = jobs
        self.logger = logger
    }

    /// Publishes `drafts` (on `batcher`'s loop, which the caller is on) unless `delivery` was seen within `window`.
    /// - Parameters:
    ///   - accepted: the log line for a publish that stored events (with every id, topic and rule as fields).
    func publish(
        _ drafts: [EventDraft], delivery: DeliveryKey?, window: Duration, source: String, batcher: PublishBatcher, accepted: String,
        completion: @escaping @Sendable (PublishOutcome) -> Void
    ) {
        guard let delivery, !drafts.isEmpty else {
            return store(drafts, delivery: nil, source: source, batcher: batcher, accepted: accepted, completion: completion)
        }
        guard case .first = tracker.claim(delivery, waiter: completion) else {
            logger.info("Redelivery waits for its original, in flight", metadata: ["hookstream.source": "\(source)"])
            return
        }
        let since = WallClock.milliseconds() - window.milliseconds
        let submitted = jobs.submit {
            let stored: DeliveryRecord?
            do {
                stored = try await self.store.delivery(delivery, since: since)
            } catch {
                self.logger.error("Not handled: the event store cannot be read", metadata: ["hookstream.source": "\(source)", "error": "\(error)"])
                return self.finish(delivery, .failed(Publisher.storeUnavailable), completion)
            }
            if let stored {
                self.logger.info(
                    "Redelivery answered with its original ids; nothing published",
                    metadata: ["hookstream.source": "\(source)", "hookstream.event_id": .array(stored.ids.map { .string(String($0)) })])
                return self.finish(delivery, .published(ids: stored.ids, topics: stored.topics, duplicate: true), completion)
            }
            batcher.eventLoop.execute {
                self.store(drafts, delivery: delivery, source: source, batcher: batcher, accepted: accepted) { outcome in
                    self.finish(delivery, outcome, completion)
                }
            }
        }
        if !submitted { finish(delivery, .failed(WebhookIngest.shuttingDown), completion) }
    }

    private func finish(_ delivery: DeliveryKey, _ outcome: PublishOutcome, _ completion: @Sendable (PublishOutcome) -> Void) {
        completion(outcome)
        tracker.finish(delivery, outcome: outcome)
    }

    private func store(
        _ drafts: [EventDraft], delivery: DeliveryKey?, source: String, batcher: PublishBatcher, accepted: String,
        completion: @escaping @Sendable (PublishOutcome) -> Void
    ) {
        let logger = self.logger
        batcher.publish(EventBatch(drafts, delivery: delivery)) { result in
            switch result {
            case .success(let events):
                if !events.isEmpty { logger.info("\(accepted)", metadata: Publisher.eventMetadata(events, drafts, source: source)) }
                completion(.published(ids: events.map(\.id), topics: events.map(\.topic), duplicate: false))
            case .failure(let error):
                logger.error(
                    "Not stored: the event store failed",
                    metadata: ["hookstream.source": "\(source)", "error": "\(error)", LogMessageID.metadataKey: "\(LogMessageID.storeUnavailable)"])
                completion(.failed(Publisher.storeUnavailable))
            }
        }
    }

    /// One log line's metadata for a publish: every id, topic and rule, as lists (the journal repeats the field, so
    /// `journalctl HOOKSTREAM_EVENT_ID=42` finds the line).
    static func eventMetadata(_ events: [Event], _ drafts: [EventDraft], source: String) -> Logger.Metadata {
        [
            "hookstream.source": .string(source),
            "hookstream.event_id": .array(events.map { .string(String($0.id)) }),
            "hookstream.topic": .array(events.map { .string($0.topic) }),
            "hookstream.rule": .array(Array(Set(drafts.map(\.rule))).sorted().map { .string($0) }),
        ]
    }

    static let storeUnavailable = HTTPResponse(
        error: HTTPError(.serviceUnavailable, code: "store_unavailable", "the event store cannot accept events right now; retry later"))
}
