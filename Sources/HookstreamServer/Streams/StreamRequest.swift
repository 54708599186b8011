import HookstreamCore
import NIOHTTP1

/// A `GET /events` request's topics and resume point (who asks is the authenticator's part).
struct StreamRequest {
    let filter: TopicFilter
    let lastEventID: EventID?
    /// A one-time ticket from `POST /tickets`, when the request uses one.
    let ticket: String?

    /// The most topics (patterns) one stream or ticket may name: each is matched against every event published,
    /// so the number is bounded like any other work a client can ask for.
    static let maximumTopics = 64

    static let tooManyTopics = HTTPError(
        .badRequest, code: "too_many_topics", "name at most \(StreamRequest.maximumTopics) topics; a pattern (a/*, a/**) covers many")

    /// - Throws: ``HTTPError`` 400 for missing, too many or malformed topics or a malformed `Last-Event-ID`.
    init(head: HTTPRequestHead, target: RequestTarget) throws(HTTPError) {
        let topics = target.values("topic")
        guard !topics.isEmpty else {
            throw HTTPError(.badRequest, code: "missing_topic", "name at least one topic: /events?topic=a&topic=b/*")
        }
        guard topics.count <= StreamRequest.maximumTopics else { throw StreamRequest.tooManyTopics }
        var patterns: [TopicPattern] = []
        for text in topics {
            do {
                patterns.append(try TopicPattern(text))
            } catch {
                throw HTTPError(.badRequest, code: "invalid_topic", error.description)
            }
        }
        self.filter = TopicFilter(patterns)
        self.ticket = target.value("ticket")
        let sent = head.headers["last-event-id"]
        // Two different ids (a proxy that added its own, a client's bug): resuming after either could skip events or
        // repeat them, so neither is guessed.
        if sent.count > 1, sent.contains(where: { $0.trimmingSpaces() != sent[0].trimmingSpaces() }) {
            throw HTTPError(.badRequest, code: "invalid_last_event_id", "the request has more than one Last-Event-ID header, with different ids")
        }
        let resume = sent.first ?? target.value("lastEventId") ?? target.value("last_event_id")
        if let resume, !resume.trimmingSpaces().isEmpty {
            guard let id = EventID(String(resume.trimmingSpaces())) else {
                throw HTTPError(.badRequest, code: "invalid_last_event_id", "Last-Event-ID must be an event id (a non-negative integer)")
            }
            self.lastEventID = id
        } else {
            self.lastEventID = nil
        }
    }

    /// The 403 for a topic the grant may not read.
    static func forbidden(_ filter: TopicFilter, grant: Grant) -> HTTPError {
        let refused = filter.patterns.filter { !grant.subscribe.covers($0) }.map(\.description)
        return HTTPError(.forbidden, code: "forbidden", "this token may not subscribe to \(refused.map { "'\($0)'" }.joined(separator: ", "))")
    }
}
