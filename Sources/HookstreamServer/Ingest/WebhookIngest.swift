import HookstreamCore
import Logging
import NIOCore
import NIOHTTP1

/// Turns a webhook request into events: verifies its signature, builds the message the rules read, routes it,
/// publishes, and answers redeliveries with the ids their first delivery published.
final class WebhookIngest: Sendable {
    /// Longest delivery id remembered; a longer one is not deduplicated.
    static let maximumDeliveryIDLength = 512

    private let store: any EventStore
    private let jobs: JobRunner
    private let metrics: ServerMetrics
    private let logger: Logger
    private let tracker = DeliveryTracker()

    init(store: any EventStore, jobs: JobRunner, metrics: ServerMetrics, logger: Logger) {
        self.store = store
        self.jobs = jobs
        self.metrics = metrics
        self.logger = logger
    }

    /// Handles a request to `/hooks/<source>[/<subPath>]` of a webhook source. Parses and routes at once (in the
    /// caller's order, which numbers the events in request order), publishes through the loop's `batcher`, then
    /// answers `202 {"ids":[...],"topics":[...]}` through `completion` once they are stored.
    func handle(
        source: Configuration.Source, subPath: String, head: HTTPRequestHead, target: RequestTarget, body: ByteBuffer,
        settings: LiveSettings, batcher: PublishBatcher, completion respond: @escaping @Sendable (HTTPResponse) -> Void
    ) {
        let metrics = self.metrics
        let completion: @Sendable (HTTPResponse) -> Void = { response in
            metrics.webhook(source: source.name, status: response.status.code)
            respond(response)
        }
        let drafts: [EventDraft]
        let delivery: DeliveryKey?
        do throws(HTTPError) {
            if let verifier = source.verifier {
                do throws(SignatureFailure) {
                    try body.withUnsafeReadableBytes { (bytes) throws(SignatureFailure) in
                        try verifier.verify(header: { head.headers.first(name: $0) }, body: bytes, now: WallClock.milliseconds())
                    }
                } catch {
                    throw HTTPError(.unauthorized, code: "bad_signature", "the webhook's signature was not accepted: \(error.message)")
                }
            }
            let message = try WebhookMessage.make(
                source: source.name, subPath: subPath, head: head, target: target, body: body, roots: settings.engine.roots(for: source.name))
            delivery = source.deliveryID.flatMap { deliveryKey(source: source.name, location: $0, head: head, message: message) }
            do {
                drafts = try settings.engine.route(source: source.name, message: message)
            } catch {
                throw HTTPError(.unprocessableEntity, code: "routing_failed", error.description)
            }
            metrics.matched(drafts)
        } catch {
            logger.info(
                "Webhook rejected",
                metadata: ["hookstream.source": "\(source.name)", "status": "\(error.status.code)", "error": "\(error.message)"])
            return completion(HTTPResponse(error: error))
        }
        guard let delivery, !drafts.isEmpty else {
            return publish(drafts, delivery: nil, source: source.name, batcher: batcher) { response, _ in completion(response) }
        }
        // A delivery to remember: unless its original is in flight or stored, publish it and store its id with it.
        guard case .first = tracker.claim(delivery, waiter: completion) else {
            logger.info("Webhook redelivery waits for its original, in flight", metadata: ["hookstream.source": "\(source.name)"])
            return
        }
        let since = WallClock.milliseconds() - source.deliveryWindow.milliseconds
        let accepted = jobs.submit {
            let stored: DeliveryRecord?
            do {
                stored = try await self.store.delivery(delivery, since: since)
            } catch {
                self.logger.error("Webhook not handled: the event store cannot be read", metadata: ["hookstream.source": "\(source.name)", "error": "\(error)"])
                return self.answer(delivery, with: WebhookIngest.storeUnavailable, completion: completion)
            }
            if let stored {
                self.logger.info(
                    "Webhook redelivery answered with its original ids; nothing published",
                    metadata: ["hookstream.source": "\(source.name)", "hookstream.event_id": "\(stored.ids.map(String.init).joined(separator: ","))"])
                let duplicate = WebhookIngest.accepted(ids: stored.ids, topics: stored.topics, duplicate: true)
                return self.answer(delivery, with: duplicate, redeliveries: duplicate, completion: completion)
            }
            batcher.eventLoop.execute {
                self.publish(drafts, delivery: delivery, source: source.name, batcher: batcher) { response, redeliveries in
                    self.answer(delivery, with: response, redeliveries: redeliveries, completion: completion)
                }
            }
        }
        if !accepted { answer(delivery, with: WebhookIngest.shuttingDown, completion: completion) }
    }

    /// Answers the first delivery with `response`, and every redelivery that waited for it with `redeliveries`.
    private func answer(
        _ delivery: DeliveryKey, with response: HTTPResponse, redeliveries: HTTPResponse? = nil, completion: @Sendable (HTTPResponse) -> Void
    ) {
        completion(response)
        tracker.finish(delivery, answer: redeliveries ?? response)
    }

    /// Publishes `drafts`; `completion` gets the answer for this request and the one for its redeliveries.
    private func publish(
        _ drafts: [EventDraft], delivery: DeliveryKey?, source: String, batcher: PublishBatcher,
        completion: @escaping @Sendable (_ response: HTTPResponse, _ redeliveries: HTTPResponse) -> Void
    ) {
        let logger = self.logger
        batcher.publish(EventBatch(drafts, delivery: delivery)) { result in
            switch result {
            case .success(let events):
                logger.info("Webhook accepted", metadata: WebhookIngest.eventMetadata(events, drafts, source: source))
                let ids = events.map(\.id)
                let topics = events.map(\.topic)
                completion(
                    WebhookIngest.accepted(ids: ids, topics: topics, duplicate: false),
                    WebhookIngest.accepted(ids: ids, topics: topics, duplicate: true))
            case .failure(let error):
                logger.error(
                    "Webhook not stored: the event store failed",
                    metadata: ["hookstream.source": "\(source)", "error": "\(error)", LogMessageID.metadataKey: "\(LogMessageID.storeUnavailable)"])
                completion(WebhookIngest.storeUnavailable, WebhookIngest.storeUnavailable)
            }
        }
    }

    private func deliveryKey(source: String, location: DeliveryIDLocation, head: HTTPRequestHead, message: JSONValue) -> DeliveryKey? {
        let id: String?
        switch location {
        case .header(let name): id = head.headers.first(name: name)
        case .path(let path): id = path.value(in: message).flatMap { $0 == .null ? nil : $0.templateText }
        }
        guard let id, !id.isEmpty, id.utf8.count <= WebhookIngest.maximumDeliveryIDLength else { return nil }
        return DeliveryKey(source: source, id: id)
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

    static func accepted(ids: [EventID], topics: [String], duplicate: Bool) -> HTTPResponse {
        var members: [JSONValue.Member] = [
            .init("ids", .array(ids.map { .number(String($0)) })),
            .init("topics", .array(topics.map { .string($0) })),
        ]
        if duplicate { members.append(.init("duplicate", .bool(true))) }
        return .json(.accepted, .object(members))
    }

    static let storeUnavailable = HTTPResponse(
        error: HTTPError(.serviceUnavailable, code: "store_unavailable", "the event store cannot accept events right now; retry later"))

    static let shuttingDown = HTTPResponse(error: HTTPError(.serviceUnavailable, code: "shutting_down", "the server is shutting down"))
}
