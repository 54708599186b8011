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

    @Test(arguments: ["{{ body", "{{ }}", "x }}", "{{ body..x }}", "{{ body | upper }}", "{{ body | default }}", "{{ body | default: 'x }}", "{{ a b }}"])
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

    @Test func conditions() throws {
        #expect(RuleCondition(path: "header.x-github-event", test: .oneOf(["push", "ping"])).isSatisfied(by: context))
        #expect(!RuleCondition(path: "header.x-github-event", test: .oneOf(["ping"])).isSatisfied(by: context))
        #expect(RuleCondition(path: "body.n", test: .oneOf(["42"])).isSatisfied(by: context))
        #expect(RuleCondition(path: "body.channel", test: .exists(true)).isSatisfied(by: context))
        #expect(RuleCondition(path: "body.nothing", test: .exists(false)).isSatisfied(by: context))
    }

    @Test func ruleRefusesTopicsOutsideItsAllowList() throws {
        let rule = Rule(
            name: "local", source: "local", topic: try Template("{{ topic }}"), type: try Template("message"),
            data: .template(try Template("{{ data }}")), allowedTopics: TopicFilter([try TopicPattern("local/**")]))
        let ok = try rule.draft(for: try JSONParser.parse(#"{"topic":"local/x","data":"hi"}"#))
        #expect(ok.topic == "local/x")
        #expect(ok.data == .text("hi"))
        #expect(throws: RoutingError.self) { try rule.draft(for: try JSONParser.parse(#"{"topic":"other/x"}"#)) }
        #expect(throws: RoutingError.self) { try rule.draft(for: try JSONParser.parse(#"{"topic":"local/*"}"#)) }
    }
}
