import Testing

@testable import HookstreamCore

@Suite struct RuleEngineTests {
    let push: JSONValue = try! JSONParser.parse(
        #"""
        {"method":"POST","path":"org/api","query":{"env":"prod"},"header":{"x-github-event":"push"},
         "body":{"ref":"refs/heads/main","size":3,"forced":false,"commits":[{"id":"c1","message":"fix: x"},{"id":"c2","message":"feat"}],
                 "labels":["bug","ui"],"repository":{"name":"api","owner":{"login":"Org"}},"nothing":null},
         "form":{"team":"ops"},"text":"raw body"}
        """#)

    private func test(_ path: String, _ test: ValueTest) throws -> RuleCondition { .test(try ValuePath(path), test) }

    @Test func operators() throws {
        let holds: [RuleCondition] = [
            try test("header.X-GitHub-Event", .equals("push")),  // header names are case-insensitive
            try test("body.size", .equals("3")),
            try test("body.forced", .equals("false")),
            try test("header.x-github-event", .oneOf(["ping", "push"])),
            try test("body.commits[0].id", .equals("c1")),
            try test("body.commits.1.id", .equals("c2")),
            try test("body.commits[1].message", .regex(try CompiledRegex("^fe+at$"))),
            try test("body.ref", .prefix("refs/heads/")),
            try test("body.ref", .suffix("/main")),
            try test("body.ref", .contains("heads")),
            try test("body.labels", .contains("ui")),
            try test("body.repository", .contains("owner")),
            try test("body.size", .compare(.greaterThan, 2)),
            try test("body.size", .compare(.lessThanOrEqual, 3)),
            try test("query.env", .equals("prod")),
            try test("method", .equals("POST")),
            try test("path", .prefix("org/")),
            try test("form.team", .equals("ops")),
            try test("text", .contains("raw")),
            try test("body.repository.name", .exists(true)),
            try test("body.nothing", .exists(false)),
            try test("body.absent", .exists(false)),
        ]
        for condition in holds { #expect(try condition.isSatisfied(by: push), "\(condition)") }
        let fails: [RuleCondition] = [
            try test("header.x-github-event", .equals("ping")),
            try test("body.commits[5].id", .exists(true)),
            try test("body.size", .compare(.greaterThanOrEqual, 4)),
            try test("body.ref", .compare(.greaterThan, 1)),  // not a number
            try test("body.labels", .contains("docs")),
            try test("body.commits[0].message", .regex(try CompiledRegex("^feat"))),
        ]
        for condition in fails { #expect(try !condition.isSatisfied(by: push), "\(condition)") }
    }

    @Test func combinatorsAndTheirReasons() throws {
        let anyOf = RuleCondition.any([try test("body.size", .compare(.greaterThan, 10)), try test("header.x-github-event", .equals("push"))])
        #expect(try anyOf.isSatisfied(by: push))
        let none = RuleCondition.any([try test("body.size", .compare(.greaterThan, 10)), try test("body.ref", .prefix("refs/tags/"))])
        #expect(try none.failure(in: push) == #"none of any held: body.size is 3, not > 10; body.ref is "refs/heads/main", which does not start with "refs/tags/""#)
        let not = RuleCondition.not(try test("body.forced", .equals("false")))
        #expect(try not.failure(in: push) == #"not: body.forced == "false" holds"#)
        let all = RuleCondition.all([try test("method", .equals("POST")), try test("body.missing.x", .equals("1"))])
        #expect(try all.failure(in: push) == "body.missing.x is missing")
        // A key that is there with null fails `exists: true` as an absent one does, and the reason says which it was.
        #expect(try test("body.nothing", .exists(true)).failure(in: push) == "body.nothing is null")
        #expect(try test("body.nothing", .equals("x")).failure(in: push) == "body.nothing is null")
        #expect(try test("header.x-github-event", .equals("ping")).failure(in: push) == #"header.x-github-event is "push", expected "ping""#)
    }

    private func rule(_ name: String, when condition: RuleCondition? = nil, topic: String, continues: Bool = false) throws -> Rule {
        Rule(
            name: name, source: "github", condition: condition,
            events: [EventTemplate(topic: try Template(topic), type: try Template("message"), data: .literal(.null))], continues: continues)
    }

    @Test func theFirstMatchingRuleWinsUnlessItContinues() throws {
        let engine = RuleEngine(rules: [
            try rule("tags", when: try test("body.ref", .prefix("refs/tags/")), topic: "tags"),
            try rule("audit", topic: "audit", continues: true),
            try rule("main", when: try test("body.ref", .suffix("/main")), topic: "main"),
            try rule("fallback", topic: "other"),
        ])
        #expect(try engine.route(source: "github", message: push).map(\.topic) == ["audit", "main"])
        let report = engine.explain(source: "github", message: push)
        #expect(report.rules.map(\.matched) == [false, true, true, false])
        #expect(report.rules[0].reason == #"body.ref is "refs/heads/main", which does not start with "refs/tags/""#)
        #expect(report.rules[3].reason == "not tried: rule 'main' matched before it and does not continue")
        #expect(report.events.map(\.rule) == ["audit", "main"])
        #expect(try engine.route(source: "other", message: push).isEmpty)
    }

    @Test func aRulePublishesSeveralEvents() throws {
        let rule = Rule(
            name: "fan", source: "github",
            events: [
                EventTemplate(topic: try Template("repos/{{ body.repository.name }}"), type: try Template("push"), data: .literal(.null)),
                EventTemplate(topic: try Template("owners/{{ body.repository.owner.login | lower }}"), type: try Template("push"), data: .literal(.null)),
            ])
        let engine = RuleEngine(rules: [rule])
        #expect(try engine.route(source: "github", message: push).map(\.topic) == ["repos/api", "owners/org"])
        #expect(engine.roots(for: "github") == ["body"])
    }

    @Test func aMatchingRuleThatCannotBuildItsEventFailsTheMessage() throws {
        let engine = RuleEngine(rules: [try rule("bad", topic: "x/{{ body.missing }}"), try rule("never", topic: "y")])
        #expect(throws: RoutingError.self) { try engine.route(source: "github", message: push) }
        let report = engine.explain(source: "github", message: push)
        #expect(report.events.isEmpty)
        #expect(report.error?.rule == "bad")
        #expect(report.rules.map(\.matched) == [true, false])
        #expect(report.rules.map(\.failed) == [true, false])
    }

    /// Regex searches that take more steps than a message may spend fail the message, as a rule that cannot build
    /// its event does: route throws, naming the rule, the path, the value's length and the pattern, and explain
    /// reports it and tries no later rule. The steps are the message's, not each search's: two searches that fit
    /// one by one do not fit together. Bad input tried: a 5,000-character `text` for a pattern of 200 instructions
    /// (`[a-z]{1,100}x` takes about 400 steps a character on it), with 1,500,000 steps per message.
    @Test func regexSearchesPastTheMessagesStepsFailTheMessage() throws {
        let (long, short) = (String(repeating: "a", count: 5_000), String(repeating: "a", count: 2_000))
        let message = try JSONParser.parse(#"{"text":"\#(long)","short":"\#(short)"}"#)
        let costly = try CompiledRegex("[a-z]{1,100}x")
        let engine = RuleEngine(
            rules: [
                try rule("short", when: try test("text", .regex(try CompiledRegex("^b"))), topic: "b"),
                try rule("costly", when: try test("text", .regex(costly)), topic: "x"),
                try rule("fallback", topic: "other"),
            ], regexSteps: 1_500_000)
        let error = try #require(throws: RoutingError.self) { try engine.route(source: "github", message: message) }
        #expect(error.rule == "costly")
        #expect(
            error.description
                == "rule 'costly': searching text (5000 characters) for /[a-z]{1,100}x/ took the message's regex searches "
                + "past 1500000 steps, so the search was given up: shorten the value, or simplify the pattern or anchor "
                + "it at the start")
        let report = engine.explain(source: "github", message: message)
        #expect(report.rules.map(\.matched) == [false, false, false])
        #expect(report.rules.map(\.failed) == [false, true, false])
        #expect(report.rules[1].reason == error.description)
        #expect(report.rules[2].reason == "not tried: routing stopped at rule 'costly', whose regex search was given up")
        #expect(report.error?.rule == "costly")
        #expect(report.events.isEmpty)
        // 2,000 characters take about 800,000 steps: one such search fits, two do not.
        let once = RuleEngine(
            rules: [try rule("one", when: try test("short", .regex(costly)), topic: "x"), try rule("rest", topic: "y")],
            regexSteps: 1_500_000)
        #expect(try once.route(source: "github", message: message).map(\.topic) == ["y"])
        let twice = RuleEngine(
            rules: [
                try rule("one", when: try test("short", .regex(costly)), topic: "x"),
                try rule("two", when: try test("short", .regex(costly)), topic: "x"),
                try rule("rest", topic: "y"),
            ], regexSteps: 1_500_000)
        #expect(throws: RoutingError.self) { try twice.route(source: "github", message: message) }
    }

    /// A given-up search leaves its test undecided, and a condition that the rest decides is decided without it.
    /// Bad input: the 5,000-character value of the test above, for `[a-z]{1,100}x`, with 100,000 steps.
    @Test func aGivenUpSearchFailsTheMessageOnlyWhereItDecidesTheCondition() throws {
        let message = try JSONParser.parse(#"{"text":"\#(String(repeating: "a", count: 5_000))","kind":"push"}"#)
        let costly = try test("text", .regex(try CompiledRegex("[a-z]{1,100}x")))
        let (push, ping) = (try test("kind", .equals("push")), try test("kind", .equals("ping")))
        func topics(_ condition: RuleCondition) throws(RoutingError) -> [String] {
            let engine = RuleEngine(rules: [try! rule("costly", when: condition, topic: "x"), try! rule("rest", topic: "y")], regexSteps: 100_000)
            return try engine.route(source: "github", message: message).map(\.topic)
        }
        #expect(try topics(.any([costly, push])) == ["x"], "an any with another test that holds holds")
        #expect(try topics(.any([push, costly])) == ["x"])
        #expect(try topics(.all([costly, ping])) == ["y"], "an all with another test that fails does not hold")
        #expect(try topics(.not(.any([costly, push]))) == ["y"])
        for undecided in [RuleCondition.all([costly, push]), .any([costly, ping]), .not(costly), costly, .all([.any([costly, ping]), push])] {
            let error = #expect(throws: RoutingError.self, "\(undecided)") { try topics(undecided) }
            #expect(error?.rule == "costly")
        }
        // explain decides as route does, and says why.
        var budget = RegexBudget(limit: 100_000)
        #expect(try RuleCondition.all([costly, ping]).failure(in: message, budget: &budget) == #"kind is "push", expected "ping""#)
        budget = RegexBudget(limit: 100_000)
        #expect(try RuleCondition.any([costly, push]).failure(in: message, budget: &budget) == nil)
        budget = RegexBudget(limit: 100_000)
        #expect(throws: CompiledRegex.SearchLimitExceeded.self) { try RuleCondition.any([costly, ping]).failure(in: message, budget: &budget) }

        // The budget keeps the search given up, and which rule made it, for a warning: the message went through.
        let engine = RuleEngine(rules: [try rule("either", when: .any([costly, push]), topic: "x")], regexSteps: 100_000)
        budget = engine.makeBudget()
        #expect(try engine.route(source: "github", message: message, budget: &budget).map(\.topic) == ["x"])
        #expect(budget.firstGivenUp?.rule == "either")
        #expect(budget.firstGivenUp?.path == "text")
        // A later rule's search finds no steps left: its error names the search that used them up.
        let short = try test("kind", .regex(try CompiledRegex("^p")))
        let blamed = RuleEngine(
            rules: [try rule("hidden", when: .all([costly, ping]), topic: "x"), try rule("cheap", when: short, topic: "y")], regexSteps: 100_000)
        let error = try #require(throws: RoutingError.self) { try blamed.route(source: "github", message: message) }
        #expect(error.rule == "cheap")
        #expect(error.description.hasSuffix(
            "; the steps were used up by an earlier search: rule 'hidden' searching text (5000 characters) for /[a-z]{1,100}x/"), "\(error)")
        #expect(blamed.explain(source: "github", message: message).error?.description == error.description, "explain says what route says")
        // The same within one rule: its own earlier search, decided without, spent the steps.
        let alone = RuleEngine(rules: [try rule("alone", when: .all([.any([costly, push]), short]), topic: "x")], regexSteps: 100_000)
        let own = try #require(throws: RoutingError.self) { try alone.route(source: "github", message: message) }
        #expect(own.description.hasPrefix("rule 'alone': searching kind (4 characters) for /^p/"), "\(own)")
        #expect(own.description.hasSuffix("; the steps were used up by an earlier search: rule 'alone' searching text (5000 characters) for /[a-z]{1,100}x/"), "\(own)")
        // explain reports a search that the message was routed without.
        let report = engine.explain(source: "github", message: message)
        #expect(report.error == nil && report.events.map(\.topic) == ["x"])
        #expect(report.givenUp?.rule == "either" && report.givenUp?.path == "text")
    }

    /// explain stops where route does: after a matching rule that cannot build its events, even one that continues.
    @Test func explainStopsWhereRouteStops() throws {
        let engine = RuleEngine(rules: [
            try rule("bad", topic: "x/{{ body.missing }}", continues: true), try rule("next", topic: "y"),
        ])
        #expect(throws: RoutingError.self) { try engine.route(source: "github", message: push) }
        let report = engine.explain(source: "github", message: push)
        #expect(report.rules.map(\.failed) == [true, false])
        #expect(report.rules[1].matched == false)
        #expect(report.rules[1].reason == "not tried: routing stopped at rule 'bad', which could not build its events")
    }

    /// Integers past 2^53 are compared exactly when the bound is written as an integer; as doubles the two below
    /// were equal.
    @Test func largeIntegersCompareExactly() throws {
        let message = try JSONParser.parse(#"{"body":{"n":9007199254740993,"s":"9007199254740993","f":1.5}}"#)
        #expect(try test("body.n", .compareInteger(.greaterThan, 9_007_199_254_740_992)).isSatisfied(by: message))
        #expect(try test("body.s", .compareInteger(.greaterThan, 9_007_199_254_740_992)).isSatisfied(by: message))
        #expect(!(try test("body.n", .compareInteger(.lessThanOrEqual, 9_007_199_254_740_992)).isSatisfied(by: message)))
        #expect(try test("body.f", .compareInteger(.greaterThan, 1)).isSatisfied(by: message))
        #expect(!(try test("body.f", .compareInteger(.greaterThan, 2)).isSatisfied(by: message)))
    }
}
