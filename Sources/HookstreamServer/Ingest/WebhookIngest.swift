import HookstreamCore
import Logging
import NIOCore
import NIOHTTP1

/// Turns a webhook request into events: checks the source and content type, parses the body, routes, publishes.
struct WebhookIngest: Sendable {
    let sources: [String: Configuration.Source]
    let engine: RuleEngine
    let logger: Logger

    /// Whether `source` accepts webhooks (`404` otherwise).
    func acceptsWebhooks(_ source: String) -> Bool {
        sources[source]?.kind == .webhook
    }

    /// Handles `POST /hooks/<source>`: parses and routes at once (in the caller's order, which numbers the events
    /// in request order), publishes through the loop's `batcher`, then answers `202 {"ids":[...],"topics":[...]}`
    /// through `completion` once they are stored.
    func handle(
        source: String, head: HTTPRequestHead, target: RequestTarget, body: ByteBuffer, batcher: PublishBatcher,
        completion: @escaping @Sendable (HTTPResponse) -> Void
    ) {
        let drafts: [EventDraft]
        do throws(HTTPError) {
            let context = try makeContext(source: source, head: head, target: target, body: body)
            do {
                drafts = try engine.route(source: source, context: context)
            } catch {
                throw HTTPError(.unprocessableEntity, code: "routing_failed", error.description)
            }
        } catch {
            logger.info(
                "Webhook rejected",
                metadata: ["hookstream.source": "\(source)", "status": "\(error.status.code)", "error": "\(error.message)"])
            return completion(HTTPResponse(error: error))
        }
        batcher.publish(drafts) { result in
            switch result {
            case .success(let events):
                for event in events {
                    logger.debug(
                        "Published",
                        metadata: ["hookstream.source": "\(source)", "hookstream.event_id": "\(event.id)", "hookstream.topic": "\(event.topic)"])
                }
                completion(
                    .json(
                        .accepted,
                        .object([
                            .init("ids", .array(events.map { .number(String($0.id)) })),
                            .init("topics", .array(events.map { .string($0.topic) })),
                        ])))
            case .failure(let error):
                logger.error("Webhook not stored: the event store failed", metadata: ["hookstream.source": "\(source)", "error": "\(error)"])
                completion(
                    HTTPResponse(
                        error: HTTPError(.serviceUnavailable, code: "store_unavailable", "the event store cannot accept events right now; retry later")))
            }
        }
    }

    /// The message a rule sees: `{ "source", "header": {lower-case names}, "query", "body" }`.
    private func makeContext(source: String, head: HTTPRequestHead, target: RequestTarget, body: ByteBuffer) throws(HTTPError) -> JSONValue {
        let contentType = head.headers.first(name: "content-type")?.lowercased() ?? ""
        let mediaType = contentType.split(separator: ";").first.map { String($0.trimmingSpaces()) } ?? ""
        let parsedBody: JSONValue
        switch mediaType {
        case "", "application/json", "text/json":
            parsedBody = try parseJSON(body.readableBytesView)
        case _ where mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"):
            parsedBody = try parseJSON(body.readableBytesView)
        case "application/x-www-form-urlencoded":
            // GitHub and others can send the JSON payload as a form field named `payload`.
            let form = RequestTarget("?" + String(buffer: body))
            guard let payload = form.value("payload") else {
                throw HTTPError(.badRequest, code: "malformed_body", "a form-encoded webhook must carry its JSON in a 'payload' field")
            }
            parsedBody = try parseJSON(Array(payload.utf8))
        default:
            throw HTTPError(
                .unsupportedMediaType, code: "unsupported_media_type",
                "Content-Type '\(mediaType)' is not supported; send application/json")
        }
        var headers: [JSONValue.Member] = []
        for (name, value) in head.headers {
            let key = name.lowercased()
            if key == "authorization" || key == "cookie" { continue }  // never expose credentials to templates
            headers.append(.init(key, .string(value)))
        }
        var query: [JSONValue.Member] = []
        for (name, value) in target.query where name != "access_token" { query.append(.init(name, .string(value))) }
        return .object([
            .init("source", .string(source)),
            .init("header", .object(headers)),
            .init("query", .object(query)),
            .init("body", parsedBody),
        ])
    }

    private func parseJSON(_ bytes: some Collection<UInt8>) throws(HTTPError) -> JSONValue {
        guard !bytes.isEmpty else {
            throw HTTPError(.badRequest, code: "malformed_body", "the request body is empty; send a JSON document")
        }
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw HTTPError(.badRequest, code: "malformed_body", "the body is not valid JSON: \(error)")
        }
    }
}
