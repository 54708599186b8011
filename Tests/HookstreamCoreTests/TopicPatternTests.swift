import Testing

@testable import HookstreamCore

@Suite struct TopicPatternTests {
    @Test(arguments: [
        ("deploys/api", "deploys/api", true),
        ("deploys/api", "deploys/web", false),
        ("deploys/*", "deploys/api", true),
        ("deploys/*", "deploys", false),
        ("deploys/*", "deploys/api/eu", false),
        ("*/api", "deploys/api", true),
        ("users/*/alerts", "users/42/alerts", true),
        ("users/*/alerts", "users/42/other", false),
        ("demo/**", "demo/general", true),
        ("demo/**", "demo/a/b/c", true),
        ("demo/**", "demo", true),
        ("demo/**", "demos/x", false),
        ("**", "anything/at/all", true),
    ])
    func matching(pattern: String, topic: String, expected: Bool) throws {
        #expect(try TopicPattern(pattern).matches(topic) == expected)
    }

    @Test(arguments: ["", "a//b", "a/**/b", "a/b*", "a/ b", "/a", "a/"])
    func invalidPatternsAreRejected(text: String) {
        #expect(throws: TopicPatternError.self) { try TopicPattern(text) }
    }

    @Test(arguments: [
        ("demo/**", "demo/general", true),
        ("demo/**", "demo/*", true),
        ("demo/**", "demo/**", true),
        ("demo/**", "**", false),
        ("demo/*", "demo/x", true),
        ("demo/*", "demo/*", true),
        ("demo/*", "demo/**", false),
        ("demo/*", "demo/x/y", false),
        ("demo/x", "demo/*", false),
        ("*/x", "a/x", true),
        ("local/**", "demo/x", false),
    ])
    func grantsCoverRequests(grant: String, request: String, expected: Bool) throws {
        #expect(try TopicPattern(grant).covers(TopicPattern(request)) == expected)
    }

    @Test func topicNamesAreValidated() {
        #expect(Topic.isValid("demo/general"))
        #expect(Topic.isValid("users/42/alerts"))
        #expect(Topic.isValid("ünïcode/話題"))
        #expect(!Topic.isValid(""))
        #expect(!Topic.isValid("a//b"))
        #expect(!Topic.isValid("a/*"))
        #expect(!Topic.isValid("a/b c"))
        #expect(!Topic.isValid(String(repeating: "x", count: 300)))
        // Every place a segment can be empty, every ASCII control, and whitespace beyond ASCII.
        for bad in ["/a", "a/", "/", "a/b/", "a\tb", "a\u{7F}", "a\nb", "a\u{00A0}b", "a/\u{2028}", "**", "a*"] {
            #expect(!Topic.isValid(bad), "\(bad.debugDescription) must be refused")
        }
        #expect(Topic.validationError("a//b") == "topic 'a//b' has an empty segment")
        #expect(Topic.validationError("a/b*") == "topic 'a/b*' contains a wildcard; wildcards belong in subscriptions")
    }

    @Test func filterMatchesAnyPattern() throws {
        let filter = TopicFilter([try TopicPattern("demo/**"), try TopicPattern("local/x")])
        #expect(filter.matches("demo/a"))
        #expect(filter.matches("local/x"))
        #expect(!filter.matches("local/y"))
    }
}
