import HookstreamCore
import NIOHTTP1

/// A validated `GET /events` request: who asks, for which topics, resuming after which id.
struct StreamRequest {
    let token: AccessToken
    /// The secret the request presented, kept to check the stream's grant again when the config is reloaded.
    let credential: String
    let filter: TopicFilter
    let lastEventID: EventID?

    /// - Throws: ``HTTPError``: 401 without a valid token, 403 for a topic the token may not read,
    ///   400 for missing or malformed topics or a malformed `Last-Event-ID`.
    init(head: HTTPRequestHead, target: RequestTarget, authenticator: Authenticator) throws(HTTPError) {
        guard let secret = try RequestCredentials.secret(headers: head.headers, target: target) else {
            throw HTTPError(
                .unauthorized, code: "unauthorized",
                "a token is required: send 'Authorization: Bearer <token>', the cookie hookstream_token, or ?access_token=",
                headers: [("WWW-Authenticate", "Bearer")])
        }
        guard let token = authenticator.token(forSecret: secret) else {
            throw HTTPError(.unauthorized, code: "unauthorized", "the token is not valid", headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")])
        }
        let topics = target.values("topic")
        guard !topics.isEmpty else {
            throw HTTPError(.badRequest, code: "missing_topic", "name at least one topic: /events?topic=a&topic=b/*")
        }
        var patterns: [TopicPattern] = []
        for text in topics {
            let pattern: TopicPattern
            do {
                pattern = try TopicPattern(text)
            } catch {
                throw HTTPError(.badRequest, code: "invalid_topic", error.description)
            }
            guard token.subscribe.covers(pattern) else {
                throw HTTPError(.forbidden, code: "forbidden", "this token may not subscribe to '\(text)'")
            }
            patterns.append(pattern)
        }
        self.token = token
        self.credential = secret
        self.filter = TopicFilter(patterns)

        let resume = head.headers.first(name: "last-event-id") ?? target.value("lastEventId") ?? target.value("last_event_id")
        if let resume, !resume.trimmingSpaces().isEmpty {
            guard let id = EventID(String(resume.trimmingSpaces())) else {
                throw HTTPError(.badRequest, code: "invalid_last_event_id", "Last-Event-ID must be an event id (a non-negative integer)")
            }
            self.lastEventID = id
        } else {
            self.lastEventID = nil
        }
    }
}
