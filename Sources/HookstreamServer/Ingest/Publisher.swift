import HookstreamCore
import Logging
import NIOConcurrencyHelpers
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
    /// Publishes the store refused, for their log: a full disk refuses every webhook, and a line each flooded the
    /// journal (which then drops lines, the first ones among them).
    private let storeRefusals = NIOLockedValueBox(RefusalLog())

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
            return store(drafts, delivery: nil, since: .min, source: source, batcher: batcher, accepted: accepted, completion: completion)
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
                return self.finish(delivery, self.redelivery(stored, source: source), completion)
            }
            batcher.eventLoop.execute {
                self.store(drafts, delivery: delivery, since: since, source: source, batcher: batcher, accepted: accepted) { outcome in
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

    /// The answer to a redelivery: its original's ids, nothing published.
    private func redelivery(_ stored: DeliveryRecord, source: String) -> PublishOutcome {
        logger.info(
            "Redelivery answered with its original ids; nothing published",
            metadata: ["hookstream.source": "\(source)", "hookstream.event_id": .array(stored.ids.map { .string(String($0)) })])
        return .published(ids: stored.ids, topics: stored.topics, duplicate: true)
    }

    private func store(
        _ drafts: [EventDraft], delivery: DeliveryKey?, since: Int64, source: String, batcher: PublishBatcher, accepted: String,
        completion: @escaping @Sendable (PublishOutcome) -> Void
    ) {
        let logger = self.logger
        batcher.publish(EventBatch(drafts, delivery: delivery, since: since)) { result in
            // A shared store stored nothing: another instance had taken the same delivery in the same instant.
            if case .success(let events) = result, events.isEmpty, let delivery {
                return self.answerTakenElsewhere(delivery, since: since, source: source, completion: completion)
            }
            switch result {
            case .success(let events):
                if !events.isEmpty { logger.info("\(accepted)", metadata: Publisher.eventMetadata(events, drafts, source: source)) }
                completion(.published(ids: events.map(\.id), topics: events.map(\.topic), duplicate: false))
            case .failure(let error):
                if let count = self.storeRefusals.withLockedValue({ $0.count(now: NIODeadline.now().uptimeNanoseconds) }) {
                    logger.error(
                        "Not stored: the event store failed",
                        metadata: [
                            "hookstream.source": "\(source)", "error": "\(error)", "refused": "\(count)",
                            LogMessageID.metadataKey: "\(LogMessageID.storeUnavailable)",
                        ])
                }
                completion(.failed((error as? StoreError)?.kind == .unconfirmed ? Publisher.storeUnconfirmed : Publisher.storeUnavailable))
            }
        }
    }

    /// Answers a delivery that another instance stored first with that one's ids, read from the store.
    private func answerTakenElsewhere(
        _ delivery: DeliveryKey, since: Int64, source: String, completion: @escaping @Sendable (PublishOutcome) -> Void
    ) {
        let submitted = jobs.submit {
            guard let stored = try? await self.store.delivery(delivery, since: since) else {
                // Pruned in between, or the store cannot be read: the sender tries again, and is answered then.
                self.logger.error(
                    "Not handled: another instance stored this delivery, and its record cannot be read",
                    metadata: ["hookstream.source": "\(source)", LogMessageID.metadataKey: "\(LogMessageID.storeUnavailable)"])
                return completion(.failed(Publisher.storeUnavailable))
            }
            completion(self.redelivery(stored, source: source))
        }
        if !submitted { completion(.failed(WebhookIngest.shuttingDown)) }
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

    /// The answer when the store lost its database while committing: the events may be stored and delivered, and
    /// a sender told "not stored" would publish them twice.
    static let storeUnconfirmed = HTTPResponse(
        error: HTTPError(.serviceUnavailable, code: "store_unconfirmed", StoreError.unconfirmedSenderMessage))

    static let storeUnavailable = HTTPResponse(
        error: HTTPError(.serviceUnavailable, code: "store_unavailable", StoreError.refusedSenderMessage))
}
