import Testing

@testable import HookstreamCore

@Suite struct TemplateTests {
    let context: JSONValue = try! JSONParser.parse(
        #"{"body":{"channel":"ops","n":42,"nested":{"list":["a","b"]},"obj":{"k":1}},"header":{"x-github-event":"push"}}"#)

    @Test func literalAndPlaceholders() throws {
        #expect(try Template("demo/{{ body.channel }}").renderText(in: context) == "demo/ops")
        #expect(try Template("{{body.n}}-{{ header.x-github-event }}").renderText(in: context) == "42-push")
        #expect(try Template("{{ body.nested.list.1 }}").renderText(in: context) == "b")
        #expect(try Template("plain").renderText(in: context) == "plain")
    }

    @Test func defaultApplies() throws {
        #expect(try Template("demo/{{ body.missing | default: 'general' }}").renderText(in: context) == "demo/general")
        #expect(try Template(#"{{ body.missing | default: "x" }}"#).renderText(in: context) == "x")
        #expect(try Template("{{ body.missing | default: 5 }}").renderValue(in: context) == .number("5"))
        #expect(try Template("{{ body.channel | default: 'unused' }}").renderText(in: context) == "ops")
    }

    @Test func missingValueWithoutDefaultIsAnError() throws {
        let template = try Template("demo/{{ body.missing }}")
        #expect(throws: TemplateError.self) { try template.renderText(in: context) }
    }

    @Test func lonePlaceholderKeepsItsJSONType() throws {
        #expect(try Template("{{ body.obj }}").renderValue(in: context) == .object([.init("k", .number("1"))]))
        #expect(try Template("{{ body.n }}").renderValue(in: context) == .number("42"))
        #expect(try Template("n={{ body.n }}").renderValue(in: context) == .string("n=42"))
        #expect(try Template("{{ body.obj }}").renderText(in: context) == #"{"k":1}"#)
    }

    @Test(arguments: ["{{ body", "{{ }}", "x }}", "{{ body..x }}", "{{ body | shout }}", "{{ body | default }}", "{{ body | default: 'x }}", "{{ a b }}"])
    func malformedTemplatesAreRejected(text: String) {
        #expect(throws: TemplateError.self) { try Template(text) }
    }

    @Test func dataTemplatesBuildObjects() throws {
        let data = DataTemplate.object([
            ("repo", .template(try Template("{{ body.channel }}"))),
            ("count", .template(try Template("{{ body.n }}"))),
            ("fixed", .literal(.bool(true))),
        ])
        #expect(try data.render(in: context).jsonText == #"{"repo":"ops","count":42,"fixed":true}"#)
    }

    @Test func filtersApplyLeftToRight() throws {
        let message = try JSONParser.parse(#"{"body":{"name":"Hello, World! 2024","n":7,"obj":{"k":[1,2]},"empty":null}}"#)
        #expect(try Template("{{ body.name | lower }}").renderText(in: message) == "hello, world! 2024")
        #expect(try Template("{{ body.name | upper }}").renderText(in: message) == "HELLO, WORLD! 2024")
        #expect(try Template("{{ body.name | slug }}").renderText(in: message) == "hello-world-2024")
        #expect(try Template("{{ body.name | truncate: 5 }}").renderText(in: message) == "Hello")
        #expect(try Template("{{ body.obj | json }}").renderValue(in: message) == .string(#"{"k":[1,2]}"#))
        #expect(try Template("{{ body.empty | default: 'none' | upper }}").renderText(in: message) == "NONE")
        #expect(try Template("{{ body.missing | default: 'A B' | slug }}").renderText(in: message) == "a-b")
        #expect(try Template("{{ body.n | truncate: 1 }}").renderValue(in: message) == .string("7"))
        #expect(try Template("{{ body.obj.k[1] }}").renderValue(in: message) == .number("2"))
        // A filter on a missing value keeps it missing: the placeholder still needs a default.
        #expect(throws: TemplateError.self) { try Template("x/{{ body.missing | lower }}").renderText(in: message) }
    }

    @Test(arguments: ["{{ body | truncate }}", "{{ body | truncate: 0 }}", "{{ body | lower: 1 }}", "{{ body | }}", "{{ body.a[x] }}", "{{ body.a[1 }}"])
    func malformedFiltersAndPathsAreRejected(text: String) {
        #expect(throws: TemplateError.self) { try Template(text) }
    }

    @Test func aValueInsertedIntoATopicStaysOneSegment() throws {
        let template = try Template("deploys/{{ body.repo }}")
        let ok = try JSONParser.parse(#"{"body":{"repo":"api"}}"#)
        #expect(try template.renderTopic(in: ok) == "deploys/api")
        // Bad input: a payload value that would add segments, wildcards, whitespace, or be empty.
        for repo in ["a/b", "../x", "*", "a b", "", "x/.."] {
            let message = JSONValue.object([.init("body", .object([.init("repo", .string(repo))]))])
            #expect(throws: TemplateError.self, "\(repo)") { try template.renderTopic(in: message) }
        }
        // The slug filter turns any value into one safe segment.
        let slugged = try Template("deploys/{{ body.repo | slug }}")
        #expect(try slugged.renderTopic(in: JSONValue.object([.init("body", .object([.init("repo", "Org/Repo Name")]))])) == "deploys/org-repo-name")
        // A template that is one placeholder may give a whole topic (allow_topics bounds it).
        #expect(try Template("{{ topic }}").renderTopic(in: try JSONParser.parse(#"{"topic":"local/a/b"}"#)) == "local/a/b")
    }

    @Test func ruleRefusesTopicsOutsideItsAllowList() throws {
        let rule = Rule(
            name: "local", source: "local",
            events: [EventTemplate(topic: try Template("{{ topic }}"), type: try Template("message"), data: .template(try Template("{{ data }}")))],
            allowedTopics: TopicFilter([try TopicPattern("local/**")]))
        let ok = try rule.drafts(for: try JSONParser.parse(#"{"topic":"local/x","data":"hi"}"#))
        #expect(ok.map(\.topic) == ["local/x"])
        #expect(ok.first?.data == .text("hi"))
        #expect(throws: RoutingError.self) { try rule.drafts(for: try JSONParser.parse(#"{"topic":"other/x"}"#)) }
        #expect(throws: RoutingError.self) { try rule.drafts(for: try JSONParser.parse(#"{"topic":"local/*"}"#)) }
        #expect(throws: RoutingError.self) { try rule.drafts(for: try JSONParser.parse(#"{"topic":"local/../x"}"#)) }
    }

    /// A quoted filter value may hold '|': the placeholder is split into filters outside quotes only.
    @Test func aQuotedFilterValueMayHoldABar() throws {
        let message = try JSONParser.parse(#"{"body":{}}"#)
        #expect(try Template("{{ body.s | default: 'a|b' }}").renderText(in: message) == "a|b")
        #expect(try Template(#"{{ body.s | default: "x | y" | upper }}"#).renderText(in: message) == "X | Y")
    }

    /// Bad input: payloads that name the server's own event types (which pages answer by closing or reloading),
    /// a type with a line break, and one past 256 bytes. The message fails; nothing is published.
    @Test func aRuleRefusesReservedAndMalformedEventTypes() throws {
        let rule = Rule(
            name: "demo", source: "demo",
            events: [EventTemplate(topic: try Template("demo/x"), type: try Template("{{ body.type }}"), data: .literal(.null))])
        for type in ["hookstream.expired", "hookstream.reset", "a\nb", String(repeating: "t", count: 257)] {
            let message = JSONValue.object([.init("body", .object([.init("type", .string(type))]))])
            #expect(throws: RoutingError.self, "\(type.prefix(20))") { try rule.drafts(for: message) }
        }
        let ok = JSONValue.object([.init("body", .object([.init("type", .string("hookstream-deploy"))]))])
        #expect(try rule.drafts(for: ok).map(\.type) == ["hookstream-deploy"])
    }
}
