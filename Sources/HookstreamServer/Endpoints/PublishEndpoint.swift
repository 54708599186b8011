import HookstreamCore
import NIOCore
import NIOHTTP1

/// `POST /publish`: publishes one event straight to a topic, for a token whose grants include `publish` there.
///
/// Body `{"topic": "users/42/alerts", "event": "alert", "data": ..., "id": "optional-idempotency-key"}`; answer
/// `202 {"ids": [...], "subscribers": N}`, N the live streams the event was handed to. A repeated `id` (within a
/// day) is answered with the first publish's ids and publishes nothing.
struct PublishEndpoint: HTTPEndpoint {
    /// How long a publish `id` is remembered.
    static let idempotencyWindow: Duration = .seconds(24 * 3600)

    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        .deferred { complete in
            request.withGrant(server: server, complete: complete) { grant, _ in
                let draft: EventDraft
                let key: DeliveryKey?
                do throws(HTTPError) {
                    let body = try request.jsonObject()
                    guard let topic = body["topic"]?.stringValue else {
                        throw HTTPError(.badRequest, code: "missing_topic", #"name the topic: {"topic": "a/b", "data": ...}"#)
                    }
                    if let problem = Topic.validationError(topic) { throw HTTPError(.badRequest, code: "invalid_topic", problem) }
                    guard grant.publish.matches(topic) else {
                        throw HTTPError(.forbidden, code: "forbidden", "this token may not publish to '\(topic)'")
                    }
                    let type: String
                    switch body["event"] {
                    case nil, .null?: type = "message"
                    case .string(let name)?: type = name
                    default: throw HTTPError(.badRequest, code: "invalid_event", "\"event\" must be a string")
                    }
                    if let problem = EventType.validationError(type) { throw HTTPError(.badRequest, code: "invalid_event", problem) }
                    guard let data = body["data"] else { throw HTTPError(.badRequest, code: "missing_data", #"give the event's "data""#) }
                    switch body["id"] {
                    case nil, .null?: key = nil
                    case .string(let id)? where !id.isEmpty && id.utf8.count <= WebhookIngest.maximumDeliveryIDLength:
                        key = DeliveryKey(source: "publish:\(grant.identity)", id: id)
                    default:
                        throw HTTPError(.badRequest, code: "invalid_id", "\"id\" must be a string of 1 to \(WebhookIngest.maximumDeliveryIDLength) bytes")
                    }
                    draft = EventDraft(topic: topic, type: type, data: EventData(data), source: "publish", rule: "publish-api")
                } catch {
                    return complete(HTTPResponse(error: error))
                }
                server.publisher.publish(
                    [draft], delivery: key, window: PublishEndpoint.idempotencyWindow, source: "publish",
                    batcher: server.batcher(for: request.eventLoop), accepted: "Event published by \(grant.name)"
                ) { outcome in
                    switch outcome {
                    case .failed(let response): complete(response)
                    case .published(let ids, _, let duplicate):
                        PublishEndpoint.countSubscribers(server.hubs, topic: draft.topic, on: request.eventLoop).whenSuccess { count in
                            var members: [JSONValue.Member] = [
                                .init("ids", .array(ids.map { .number(String($0)) })), .init("subscribers", .number(String(duplicate ? 0 : count))),
                            ]
                            if duplicate { members.append(.init("duplicate", .bool(true))) }
                            complete(.json(.accepted, .object(members)))
                        }
                    }
                }
            }
        }
    }

    /// The streams that read `topic`, over every event loop. Each loop counts after the drain that handed them the
    /// event (it was queued on the loop first).
    static func countSubscribers(_ hubs: StreamHubs, topic: String, on loop: any EventLoop) -> EventLoopFuture<Int> {
        EventLoopFuture.reduce(0, hubs.all.map { $0.countSubscribers(reading: topic) }, on: loop, +)
    }
}
