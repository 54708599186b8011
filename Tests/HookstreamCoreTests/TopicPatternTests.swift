import Testing

@testable import HookstreamCore

@Suite struct TopicPatternTests {
    /// An event's topic is split once for every subscriber's match; an ASCII topic by its bytes. Either way the
    /// segments are those of a split into characters, as patterns split.
    @Test(arguments: ["", "a", "a/b/c", "a//b", "/a/", "/", "deploys/api-v2", "é/ü话/😀", "a/\u{301}b", "x\r\n/y"])
    func eventTopicsSplitAsPatternsDo(topic: String) {
        let segments = EncodedEvent.segments(of: topic)
        #expect(segments == topic.split(separator: "/", omittingEmptySubsequences: false), "\(topic)")
        #expect(segments.map(String.init).joined(separator: "/") == topic)
    }

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

    @Test(arguments: ["", "a//b", "a/**/b", "a/b*", "a/ b", "/a", "a/", "users/42/../43", "./a", "a/."])
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

    /// Bad input: a combining mark right after a '/' (which Swift's character split does not split at, so a
    /// three-segment topic looked like two to `local/*`), C1 control characters and invisible formatting
    /// characters (bidirectional overrides, zero-width space). An emoji sequence with a zero-width joiner is kept.
    @Test func topicsAndPatternsRefuseJoinedSlashesAndInvisibleCharacters() throws {
        for bad in ["local/a/\u{301}b", "a\u{9B}b", "a\u{202E}b", "a\u{200B}b"] {
            #expect(Topic.validationError(bad) != nil, "\(bad.unicodeScalars.map { String($0.value, radix: 16) })")
            #expect(throws: TopicPatternError.self) { try TopicPattern(bad) }
        }
        #expect(Topic.validationError("family/\u{1F468}\u{200D}\u{1F469}") == nil)
        // Format characters of ordinary text and emoji stay: a zero-width non-joiner (Persian), a soft hyphen, the
        // tags of Scotland's flag.
        for good in ["fa/\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}", "de/Silben\u{AD}trennung", "flags/\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}"] {
            #expect(Topic.validationError(good) == nil, "\(good)")
        }
        #expect(Topic.validationError("caf\u{E9}/men\u{FC}") == nil)
    }
}
