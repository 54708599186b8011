/// Routes incoming messages: the rules of the message's source are tried in order; the first that matches
/// publishes its events, and so does every later one while the matching rules say `continue: true`.
public struct RuleEngine: Sendable {
    private let rulesBySource: [String: [Rule]]
    private let rootsBySource: [String: Set<String>]
    /// The steps one message's regex searches may take together (`server.limits.regex_steps`, ``RegexBudget``).
    public let regexSteps: Int

    /// Creates an engine; rules keep their order within a source.
    /// - Parameters:
    ///   - rules: The rules, in the config's order.
    ///   - regexSteps: The steps one message's regex searches may take together (tests make it small).
    public init(rules: [Rule], regexSteps: Int = RegexBudget.defaultLimit) {
        self.regexSteps = regexSteps
        var bySource: [String: [Rule]] = [:]
        for rule in rules { bySource[rule.source, default: []].append(rule) }
        self.rulesBySource = bySource
        self.rootsBySource = bySource.mapValues { rules in Set(rules.flatMap(\.paths).map { String($0.root) }) }
    }

    /// The events a message from `source` produces, in rule order; empty when no rule matches.
    ///
    /// - Parameters:
    ///   - source: the source the message came in by.
    ///   - message: the message as a JSON object (`body`, `header`, ... for webhooks; the line's fields for the socket).
    /// - Throws: ``RoutingError`` from the first matching rule that cannot produce its events, or from a rule whose
    ///   regex search was given up; then nothing is published.
    public func route(source: String, message: JSONValue) throws(RoutingError) -> [EventDraft] {
        var budget = makeBudget()
        return try route(source: source, message: message, budget: &budget)
    }

    /// Routes as ``route(source:message:)`` does, with the message's regex steps in `budget`: afterwards its
    /// ``RegexBudget/firstGivenUp`` tells of a search given up that the conditions were decided without.
    public func route(source: String, message: JSONValue, budget: inout RegexBudget) throws(RoutingError) -> [EventDraft] {
        var drafts: [EventDraft] = []
        for rule in rulesBySource[source] ?? [] where try rule.matches(message, budget: &budget) {
            let published = try rule.drafts(for: message)
            // The first rule's drafts are taken as they are, not copied into a second array.
            if drafts.isEmpty { drafts = published } else { drafts.append(contentsOf: published) }
            if !rule.continues { break }
        }
        return drafts
    }

    /// Routes `message` as ``route(source:message:)`` does, and says for each rule of the source whether it matched
    /// and, when it did not, why: for trying rules before deploying them (`hookstream route`).
    public func explain(source: String, message: JSONValue) -> RouteReport {
        var report = RouteReport()
        var notTried: String?  // why the rules after the one that stopped routing are not tried
        var budget = makeBudget()
        for rule in rulesBySource[source] ?? [] {
            if let notTried {
                report.rules.append(.init(name: rule.name, matched: false, reason: notTried))
                continue
            }
            let failure: String?
            do {
                failure = try rule.failure(in: message, budget: &budget)
            } catch {
                // As in `route`: the message fails there, and no later rule is tried.
                report.rules.append(.init(name: rule.name, matched: false, reason: error.description, failed: true))
                if report.error == nil { report.error = error }
                notTried = "not tried: routing stopped at rule '\(rule.name)', whose regex search was given up"
                continue
            }
            if let failure {
                report.rules.append(.init(name: rule.name, matched: false, reason: failure))
                continue
            }
            do {
                let drafts = try rule.drafts(for: message)
                report.rules.append(.init(name: rule.name, matched: true, reason: nil))
                if report.error == nil { report.events += drafts }
            } catch {
                report.rules.append(.init(name: rule.name, matched: true, reason: error.description, failed: true))
                if report.error == nil { report.error = error }
                // As in `route`, which stops there even when the rule continues.
                notTried = "not tried: routing stopped at rule '\(rule.name)', which could not build its events"
                continue
            }
            if !rule.continues { notTried = "not tried: rule '\(rule.name)' matched before it and does not continue" }
        }
        // As in `route`: a rule that cannot build its events fails the whole message.
        if report.error != nil { report.events = [] } else { report.givenUp = budget.firstGivenUp }
        return report
    }

    /// A message's regex steps: ``RegexBudget`` with this engine's limit.
    public func makeBudget() -> RegexBudget { RegexBudget(limit: regexSteps) }

    /// Whether any rule takes messages from `source`.
    public func hasRules(for source: String) -> Bool { rulesBySource[source] != nil }

    /// The parts of a message (`body`, `header`, `text`, ...) that the rules of `source` read, so that a message
    /// is built with only those.
    public func roots(for source: String) -> Set<String> { rootsBySource[source] ?? [] }
}
