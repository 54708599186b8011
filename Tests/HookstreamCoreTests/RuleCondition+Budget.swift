@testable import HookstreamCore

extension RuleCondition {
    /// Whether `message` satisfies the condition, within a budget of its own.
    func isSatisfied(by message: JSONValue) throws(CompiledRegex.SearchLimitExceeded) -> Bool {
        var budget = RegexBudget()
        return try isSatisfied(by: message, budget: &budget)
    }

    /// Why `message` does not satisfy the condition, within a budget of its own.
    func failure(in message: JSONValue) throws(CompiledRegex.SearchLimitExceeded) -> String? {
        var budget = RegexBudget()
        return try failure(in: message, budget: &budget)
    }
}
