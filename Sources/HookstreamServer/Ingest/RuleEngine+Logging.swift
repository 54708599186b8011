import HookstreamCore
import Logging

extension RuleEngine {
    /// Routes `message` as ``RuleEngine/route(source:message:)`` does, and warns in `logger` of a regex search that
    /// was given up although the rules' conditions were decided without it: the message went through, but its
    /// searches held the event loop for their whole budget, and regex tests after that one could not run.
    func route(source: String, message: JSONValue, logger: Logger) throws(RoutingError) -> [EventDraft] {
        var budget = makeBudget()
        let drafts = try route(source: source, message: message, budget: &budget)
        warnOfSearchGivenUp(in: budget, source: source, logger: logger)
        return drafts
    }

    /// Warns of the search given up in routing a message with `budget` that was routed all the same.
    func warnOfSearchGivenUp(in budget: RegexBudget, source: String, logger: Logger) {
        guard let search = budget.firstGivenUp else { return }
        logger.warning(
            "A rule's regex search was given up; the message was routed without it",
            metadata: ["hookstream.source": "\(source)", "hookstream.rule": "\(search.rule ?? "unknown")", "error": "\(search)"])
    }
}
