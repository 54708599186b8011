import HookstreamCore
import Logging

extension RuleEngine {
    /// Warns in `logger` of a regex search given up in routing a message with `budget` that was routed all the same:
    /// the rules' conditions were decided without it, but its searches held their thread for their whole budget, and
    /// regex tests after that one could not run.
    func warnOfSearchGivenUp(in budget: RegexBudget, source: String, logger: Logger) {
        guard let search = budget.firstGivenUp else { return }
        logger.warning(
            "A rule's regex search was given up; the message was routed without it",
            metadata: ["hookstream.source": "\(source)", "hookstream.rule": "\(search.rule ?? "unknown")", "error": "\(search)"])
    }
}
