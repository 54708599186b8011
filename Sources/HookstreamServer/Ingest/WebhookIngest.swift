import HookstreamCore
import Logging
import NIOCore
import NIOHTTP1

/// Turns a webhook request into events: verifies its signature, builds the message the rules read, routes it,
/// publishes, and answers redeliveries with the ids their first delivery published.
final class WebhookIngest: Sendable {
    /// Longest delivery id remembered; a longer one is not deduplicated.
    static let maximumDeliveryIDLength = 512

    private let publisher: Publisher
    private let routing: RoutingWorker
    private let limiter = WebhookRateLimiter()
    private let metrics: ServerMetrics
    private let logger: Logger

    init(publisher: Publisher, routing: RoutingWorker, metrics: ServerMetrics, logger: Logger) {
        self.publisher = publisher
        self.routing = routing
        self.metrics = metrics
        self.logger = logger
    }

    /// Handles a request to `/hooks/<source>[/<subPath>]` of a webhook source. Parses and routes at once (in the
    /// caller's order, which numbers the events in request order), publishes through the loop's `batcher`, then
    /// answers `202 {"ids":[...],"topics":[...]}` through `completion` once they are stored. A message whose regex
    /// tests need more than ``RoutingWorker/regexStepsInPlace`` steps is routed on the ``RoutingWorker``'s thread
    /// instead, and numbered then.
    func handle(
        source: borrowing Configuration.Source, subPath: String, head: HTTPRequestHead, target: RequestTarget, body: ByteBuffer,
        settings: LiveSettings, batcher: PublishBatcher, completion respond: @escaping @Sendable (HTTPResponse) -> Void
    ) {
        let metrics = self.metrics
        let sourceName = source.name  // captured alone: the whole source would be copied into the closure
        let completion: @Sendable (HTTPResponse) -> Void = { response in
            metrics.webhook(source: sourceName, status: response.status.code)
            respond(response)
        }
        let drafts: [EventDraft]
        let delivery: DeliveryKey?
        var rejection = Logger.Level.info
        do throws(HTTPError) {
            // A page of another origin can make a browser POST here (a form, a no-cors fetch) without asking: a source
            // without a signature would take what any site the operator visits sends. Webhook senders are servers,
            // which send no Origin; a signed source's signature already says who sent it (and browser-based tools
            // that forward signed webhooks send an Origin).
            guard source.verifier != nil || settings.isNotFromAForeignPage(headers: head.headers) else {
                throw HTTPError(
                    .forbidden, code: "origin_not_allowed",
                    "a source without verify: takes no webhook from a page of another origin: \(head.headers.first(name: "origin").map { "\($0) is" } ?? "this request's page is") neither this server's own origin nor in cors.origins")
            }
            if let verifier = source.verifier {
                do throws(SignatureFailure) {
                    try body.withUnsafeReadableBytes { (bytes) throws(SignatureFailure) in
                        try verifier.verify(header: { head.headers.first(name: $0) }, body: bytes, now: WallClock.milliseconds())
                    }
                } catch {
                    throw HTTPError(.unauthorized, code: "bad_signature", "the webhook's signature was not accepted: \(error.message)")
                }
            }
            if case .slack? = source.verifier?.scheme, let answer = WebhookIngest.slackURLVerification(body) {
                logger.info("Slack's URL verification answered with its challenge; nothing published", metadata: ["hookstream.source": "\(source.name)"])
                return completion(answer)
            }
            // A refusal by the rate limit is logged by `refusal`, at most every few seconds, not as a rejection each.
            if let limit = source.rateLimit, let refused = refusal(source: source.name, limit: limit) { return completion(refused) }
            var roots = settings.engine.roots(for: source.name)
            // The message has only the parts something reads: the rules, and the delivery id when it is in the message.
            if case .path(let path)? = source.deliveryID { roots.insert(String(path.root)) }
            let message = try WebhookMessage.make(
                source: source.name, subPath: subPath, head: head, target: target, body: body, roots: roots,
                signatureHeader: source.verifier?.scheme.genericHMACHeader)
            delivery = source.deliveryID.flatMap { deliveryKey(source: source.name, location: $0, head: head, message: message) }
            // Routed on the loop within a few milliseconds' steps; a message that needs more goes to the routing thread.
            do {
                switch try routing.route(message, source: source.name, engine: settings.engine, logger: logger, on: batcher.eventLoop) {
                case .now(let routed): drafts = routed
                case .later(let routed): return publishLater(routed, source: source, delivery: delivery, batcher: batcher, completion: completion)
                }
            } catch {
                rejection = error.logLevel
                throw HTTPError(.unprocessableEntity, code: "routing_failed", error.description)
            }
        } catch {
            logger.log(
                level: rejection, "Webhook rejected",
                metadata: ["hookstream.source": "\(source.name)", "status": "\(error.status.code)", "error": "\(error.message)"])
            return completion(HTTPResponse(error: error))
        }
        publish(drafts, source: source, delivery: delivery, batcher: batcher, completion: completion)
    }

    /// Publishes what the routing thread makes of a message, on `batcher`'s loop. Its events are numbered then, so
    /// after those of requests that came later.
    private func publishLater(
        _ routed: EventLoopFuture<[EventDraft]>, source: Configuration.Source, delivery: DeliveryKey?, batcher: PublishBatcher,
        completion: @escaping @Sendable (HTTPResponse) -> Void
    ) {
        routed.whenComplete { result in
            let error: HTTPError
            var level = Logger.Level.info
            switch result {
            case .success(let drafts):
                return self.publish(drafts, source: source, delivery: delivery, batcher: batcher, completion: completion)
            case .failure(RoutingWorker.Refusal.shuttingDown):
                return completion(WebhookIngest.shuttingDown)
            case .failure(RoutingWorker.Refusal.busy):
                // Logged by RoutingWorker at most every few seconds, not as a rejection each.
                return completion(
                    HTTPResponse(
                        error: HTTPError(.serviceUnavailable, code: "routing_busy", RoutingWorker.Refusal.busy.description, headers: [("Retry-After", "1")])))
            case .failure(let failure as RoutingError):
                level = failure.logLevel
                error = HTTPError(.unprocessableEntity, code: "routing_failed", failure.description)
            case .failure(let failure):
                error = HTTPError(.serviceUnavailable, code: "routing_unavailable", "the message could not be routed: \(failure)")
            }
            self.logger.log(
                level: level, "Webhook rejected",
                metadata: ["hookstream.source": "\(source.name)", "status": "\(error.status.code)", "error": "\(error.message)"])
            completion(HTTPResponse(error: error))
        }
    }

    private func publish(
        _ drafts: [EventDraft], source: Configuration.Source, delivery: DeliveryKey?, batcher: PublishBatcher,
        completion: @escaping @Sendable (HTTPResponse) -> Void
    ) {
        metrics.matched(drafts)
        publisher.publish(
            drafts, delivery: delivery, window: source.deliveryWindow, source: source.name, batcher: batcher, accepted: "Webhook accepted"
        ) { outcome in
            switch outcome {
            case .published(let ids, let topics, let duplicate): completion(WebhookIngest.accepted(ids: ids, topics: topics, duplicate: duplicate))
            case .failed(let response): completion(response)
            }
        }
    }

    /// Takes a verified webhook from its source's bucket (`nil`), or answers `429 rate_limited` with `Retry-After`.
    private func refusal(source: String, limit: RateLimit, now: UInt64 = NIODeadline.now().uptimeNanoseconds) -> HTTPResponse? {
        guard case .refused(let retryAfter, let logged) = limiter.admit(source: source, limit: limit, now: now) else { return nil }
        if let logged {
            logger.info(
                "Webhooks refused: the source's rate limit is reached",
                metadata: ["hookstream.source": "\(source)", "rate_limit": "\(limit.text)", "refused": "\(logged)"])
        }
        return HTTPResponse(
            error: HTTPError(
                .tooManyRequests, code: "rate_limited",
                "source '\(source)' takes at most \(limit.text), \(limit.burst) at once (sources.\(source).rate_limit); retry after \(retryAfter) s",
                headers: [("Retry-After", String(retryAfter))]))
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

    /// `{"ids":[…],"topics":[…]}` (and `"duplicate":true`), written straight as bytes: every publish is answered with
    /// it, and a `JSONValue` tree made and encoded for it cost more than the event's own encoding.
    static func accepted(ids: [EventID], topics: [String], duplicate: Bool) -> HTTPResponse {
        var out: [UInt8] = []
        out.reserveCapacity(48 + ids.count * 8 + topics.reduce(0) { $0 + $1.utf8.count + 3 })
        out.append(contentsOf: #"{"ids":["#.utf8)
        for (index, id) in ids.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: String(id).utf8)
        }
        out.append(contentsOf: #"],"topics":["#.utf8)
        for (index, topic) in topics.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.appendString(topic, to: &out)
        }
        out.append(contentsOf: duplicate ? "],\"duplicate\":true}\n".utf8 : "]}\n".utf8)
        return HTTPResponse(status: .accepted, headers: HTTPResponse.jsonHeaders, body: String(decoding: out, as: UTF8.self))
    }

    /// The answer to Slack's Events API URL verification (`{"type":"url_verification","challenge":"…"}`, signed like
    /// any of its requests): `200 {"challenge":"…"}`, which Slack needs before it sends events to the URL. `nil` for
    /// any other body.
    static func slackURLVerification(_ body: ByteBuffer) -> HTTPResponse? {
        guard let message = try? JSONParser.parse(body.readableBytesView), case .string("url_verification")? = message["type"],
            case .string(let challenge)? = message["challenge"]
        else { return nil }
        return HTTPResponse(
            status: .ok, headers: HTTPResponse.jsonHeaders, body: JSONValue.object([.init("challenge", .string(challenge))]).jsonText + "\n")
    }

    static let shuttingDown = HTTPResponse(error: HTTPError(.serviceUnavailable, code: "shutting_down", "the server is shutting down"))
}
