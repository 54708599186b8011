import HookstreamCore
import Logging

extension RuleEngine {
    /// Routes `message` as ``RuleEngine/route(source:message:)`` does, and warns in `logger` of a regex search that
    /// was given up although the rules' conditions were decided without it: the message went through, but its
    /// searches held the event loop for their whole budget, and regex tests after that one could not run.
    func route(source: String, message: JSONValue, logger: Logger) throws(RoutingError) -> [EventDraft] {
        var budget = makeBudget()
        let drafts = try route(source: source, message: message, budget: &budget)
        if let search = budget.firstGivenUp {
            logger.warning(
                "A rule's regex search was given up; the message was routed without it",
                metadata: ["hookstream.source": "\(source)", "hookstream.rule": "\(search.rule ?? "unknown")", "error": "\(search)"])
        }
        return drafts
    }
}
