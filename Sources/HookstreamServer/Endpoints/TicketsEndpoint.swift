import HookstreamCore
import Logging
import NIOHTTP1

/// `POST /tickets`: trades the request's token for a one-time ticket to open a stream on some of its topics, so a
/// page can open `EventSource('/events?ticket=...&topic=...')` without a long-lived token in the URL.
///
/// Body `{"topics": ["users/42/**"]}`; answer `{"ticket": "...", "expires_in": 30, "last_event_id": N}`, N the last
/// event published when the ticket was issued: a page opens its first stream with `lastEventId=N`, so that one which
/// has had no event yet when its stream ends (and its reconnect, with the spent ticket, is refused) still knows where
/// to resume from. (A stream's greeting carries that id too, but `EventSource` shows a page only its events' ids.)
struct TicketsEndpoint: HTTPEndpoint {
    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        .deferred { complete in
            request.withGrant(server: server, complete: complete) { grant, credential in
                do throws(HTTPError) {
                    let body = try request.jsonObject()
                    guard case .array(let list) = body["topics"] ?? .null, !list.isEmpty else {
                        throw HTTPError(.badRequest, code: "missing_topic", #"name the topics the ticket is for: {"topics": ["a/b", "c/*"]}"#)
                    }
                    guard list.count <= StreamRequest.maximumTopics else { throw StreamRequest.tooManyTopics }
                    var patterns: [TopicPattern] = []
                    for value in list {
                        guard let text = value.stringValue else { throw HTTPError(.badRequest, code: "invalid_topic", "each topic must be a string") }
                        do throws(TopicPatternError) {
                            patterns.append(try TopicPattern(text))
                        } catch {
                            throw HTTPError(.badRequest, code: "invalid_topic", error.description)
                        }
                    }
                    let topics = TopicFilter(patterns)
                    guard grant.maySubscribe(to: topics) else { throw StreamRequest.forbidden(topics, grant: grant) }
                    let now = WallClock.milliseconds()
                    let lifetime = request.settings.configuration.auth.ticketLifetime
                    var expiresAt = now + lifetime.milliseconds
                    if let tokenExpiry = grant.expiresAt { expiresAt = min(expiresAt, tokenExpiry) }
                    guard
                        let ticket = server.tickets.issue(
                            TicketStore.Ticket(grant: grant, topics: topics, credential: credential, expiresAt: expiresAt, settings: request.settings),
                            now: now)
                    else {
                        server.logger.info("Ticket refused: too many unused", metadata: ["hookstream.token": "\(grant.name)"])
                        throw HTTPError(
                            .tooManyRequests, code: "too_many_tickets",
                            "this token holds \(TicketStore.maximumPerIdentity) unused tickets; open streams with them, or wait for them to expire (\(lifetime.configText))")
                    }
                    server.logger.info("Ticket issued", metadata: ["hookstream.token": "\(grant.name)", "hookstream.topics": "\(patterns.map(\.description))"])
                    complete(
                        .json(
                            .ok,
                            .object([
                                .init("ticket", .string(ticket)), .init("expires_in", .number(String(max(0, (expiresAt - now) / 1000)))),
                                .init("last_event_id", .number(String(server.broker.releasedThrough))),
                            ])))
                } catch {
                    complete(HTTPResponse(error: error))
                }
            }
        }
    }
}
