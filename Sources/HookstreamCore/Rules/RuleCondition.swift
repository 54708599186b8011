/// A rule's `when`: tests on values of the message, combined with `all`, `any` and `not`.
///
/// ```yaml
/// when:
///   header.x-github-event: push                  # equals
///   body.ref: { prefix: refs/heads/ }
///   any:
///     - body.commits[0].message: { regex: "^fix" }
///     - body.forced: true
///   not: { body.sender.type: Bot }
/// ```
public indirect enum RuleCondition: Sendable, CustomStringConvertible {
    case test(ValuePath, ValueTest)
    /// Every condition holds (an empty list always holds).
    case all([RuleCondition])
    /// At least one holds.
    case any([RuleCondition])
    case not(RuleCondition)

    /// Whether `message` satisfies the condition.
    ///
    /// A regex search given up leaves its test undecided, and the condition is decided without it where it can be:
    /// an `all` with another test that fails is false, an `any` with another that holds is true.
    /// - Throws: ``CompiledRegex/SearchLimitExceeded`` (with the path it read) when a regex search was given up
    ///   (`budget`, the steps the message's searches have left, ran out) and the condition depends on its test.
    public func isSatisfied(
        by message: JSONValue, budget: inout RegexBudget
    ) throws(CompiledRegex.SearchLimitExceeded) -> Bool {
        switch self {
        case .test(let path, let test):
            do {
                return try test.holds(path.value(in: message), budget: &budget)
            } catch {
                throw budget.gaveUp(error, reading: path)
            }
        case .all(let conditions):
            // A given-up search leaves its test undecided: the `all` is still false if another test fails.
            var undecided: CompiledRegex.SearchLimitExceeded?
            for condition in conditions {
                do {
                    if !(try condition.isSatisfied(by: message, budget: &budget)) { return false }
                } catch {
                    undecided = undecided ?? error
                }
            }
            if let undecided { throw undecided }
            return true
        case .any(let conditions):
            // Likewise, the `any` still holds if another test holds.
            var undecided: CompiledRegex.SearchLimitExceeded?
            for condition in conditions {
                do {
                    if try condition.isSatisfied(by: message, budget: &budget) { return true }
                } catch {
                    undecided = undecided ?? error
                }
            }
            if let undecided { throw undecided }
            return false
        case .not(let condition):
            return !(try condition.isSatisfied(by: message, budget: &budget))
        }
    }

    /// Why `message` does not satisfy the condition (the first test that failed), or `nil` when it does; decided
    /// as ``isSatisfied(by:budget:)`` decides.
    /// - Throws: ``CompiledRegex/SearchLimitExceeded`` when a regex search was given up and the condition depends
    ///   on its test.
    public func failure(
        in message: JSONValue, budget: inout RegexBudget
    ) throws(CompiledRegex.SearchLimitExceeded) -> String? {
        switch self {
        case .test(let path, let test):
            do {
                return try test.failure(path.value(in: message), at: path, budget: &budget)
            } catch {
                throw budget.gaveUp(error, reading: path)
            }
        case .all(let conditions):
            var undecided: CompiledRegex.SearchLimitExceeded?
            for condition in conditions {
                do {
                    if let failure = try condition.failure(in: message, budget: &budget) { return failure }
                } catch {
                    undecided = undecided ?? error
                }
            }
            if let undecided { throw undecided }
            return nil
        case .any(let conditions):
            var failures: [String] = []
            var undecided: CompiledRegex.SearchLimitExceeded?
            for condition in conditions {
                do {
                    guard let failure = try condition.failure(in: message, budget: &budget) else { return nil }
                    failures.append(failure)
                } catch {
                    undecided = undecided ?? error
                }
            }
            if let undecided { throw undecided }
            return "none of any held: \(failures.joined(separator: "; "))"
        case .not(let condition):
            return try condition.isSatisfied(by: message, budget: &budget) ? "not: \(condition) holds" : nil
        }
    }

    /// The paths the condition reads.
    var paths: [ValuePath] {
        switch self {
        case .test(let path, _): [path]
        case .all(let conditions), .any(let conditions): conditions.flatMap(\.paths)
        case .not(let condition): condition.paths
        }
    }

    public var description: String {
        switch self {
        case .test(let path, let test): "\(path) \(test)"
        case .all(let conditions): conditions.count == 1 ? conditions[0].description : "all(\(conditions.map(\.description).joined(separator: ", ")))"
        case .any(let conditions): "any(\(conditions.map(\.description).joined(separator: ", ")))"
        case .not(let condition): "not(\(condition))"
        }
    }
}
