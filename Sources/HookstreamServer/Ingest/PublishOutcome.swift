import HookstreamCore

/// How a publish ended: stored (its ids and topics; `duplicate` when it was a redelivery answered with the ids of
/// its first delivery), or refused with an answer for the client.
enum PublishOutcome: Sendable {
    case published(ids: [EventID], topics: [String], duplicate: Bool)
    case failed(HTTPResponse)

    /// The same outcome, as a redelivery that waited for it sees it.
    var forRedeliveries: PublishOutcome {
        if case .published(let ids, let topics, _) = self { return .published(ids: ids, topics: topics, duplicate: true) }
        return self
    }
}
