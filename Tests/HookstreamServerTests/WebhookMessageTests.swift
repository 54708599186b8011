import HookstreamCore
import NIOCore
import NIOHTTP1
import Testing

@testable import HookstreamServer

@Suite struct WebhookMessageTests {
    @Test func mediaTypeIsLowerCasedWithoutParametersOrSpaces() {
        #expect(WebhookMessage.mediaType("application/json") == "application/json")
        #expect(WebhookMessage.mediaType("Application/JSON ; charset=UTF-8") == "application/json")
        #expect(WebhookMessage.mediaType(" \ttext/plain\t") == "text/plain")
        #expect(WebhookMessage.mediaType("application/vnd.github+json;x=1;y=2") == "application/vnd.github+json")
        #expect(WebhookMessage.mediaType("") == "")
        #expect(WebhookMessage.mediaType(";charset=utf-8") == "")
        // Bad input: bytes outside ASCII are kept as they are (and then refused as an unknown media type).
        #expect(WebhookMessage.mediaType("Text/Ünknown") == "text/Ünknown")
    }

    /// The 202's body, written as bytes: what a JSON encoder makes of the same ids and topics, escapes included.
    @Test func theAcceptedAnswerIsTheJSONOfItsIdsAndTopics() throws {
        let one = WebhookIngest.accepted(ids: [42], topics: ["demo/general"], duplicate: false)
        #expect(one.status == .accepted && one.headers.first?.1 == "application/json")
        #expect(one.body == "{\"ids\":[42],\"topics\":[\"demo/general\"]}\n")
        let topics = ["a/b", "q\"uote\\/é话😀", "t\u{1}"]
        let many = WebhookIngest.accepted(ids: [1, 9_007_199_254_740_993, 3], topics: topics, duplicate: true)
        let expected = JSONValue.object([
            .init("ids", .array([.number("1"), .number("9007199254740993"), .number("3")])),
            .init("topics", .array(topics.map(JSONValue.string))), .init("duplicate", .bool(true)),
        ])
        #expect(many.body == expected.jsonText + "\n")
        #expect(try JSONParser.parse(many.body) == expected)
        #expect(WebhookIngest.accepted(ids: [], topics: [], duplicate: false).body == "{\"ids\":[],\"topics\":[]}\n")
    }

    /// Only the parts some rule reads are built, always in the same order.
    @Test func theMessageHasThePartsTheRulesRead() throws {
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/hooks/s/x?a=1", headers: ["Content-Type": "application/json"])
        func keys(_ roots: Set<String>) throws -> [String] {
            let message = try WebhookMessage.make(
                source: "s", subPath: "x", head: head, target: RequestTarget(head.uri), body: ByteBuffer(string: "{}"), roots: roots)
            guard case .object(let members) = message else { return [] }
            return members.map(\.key)
        }
        #expect(try keys([]) == ["source", "body"])
        #expect(try keys(["body", "source"]) == ["source", "body"])
        #expect(try keys(["text", "unknown", "method", "query"]) == ["source", "body", "method", "query", "text"])
        #expect(try keys(["text", "form", "query", "header", "path", "method", "body"]) == ["source", "body", "method", "path", "header", "query", "form", "text"])
    }

    private func make(contentType: String?, body: String) throws(HTTPError) -> JSONValue {
        var headers = HTTPHeaders()
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/hooks/s", headers: headers)
        return try WebhookMessage.make(
            source: "s", subPath: "", head: head, target: RequestTarget("/hooks/s"), body: ByteBuffer(string: body), roots: ["text"])
    }

    /// Bad input: a request carrying every header that holds a credential (and a token in its query); a rule reading
    /// `header` and `query` sees the others only, so no rule can publish a secret.
    @Test func credentialsNeverReachTheRules() throws {
        let headers = HTTPHeaders([
            ("Content-Type", "application/json"), ("Authorization", "Bearer t1"), ("Proxy-Authorization", "Basic t2"),
            ("Cookie", "hookstream_token=t3"), ("X-Gitlab-Token", "t4"), ("X-Gitlab-Event", "Push Hook"),
        ])
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/hooks/s?access_token=t5&ref=main", headers: headers)
        let message = try WebhookMessage.make(
            source: "s", subPath: "", head: head, target: RequestTarget(head.uri), body: ByteBuffer(string: "{}"), roots: ["header", "query"])
        #expect((try ValuePath("header")).value(in: message) == .object([.init("content-type", "application/json"), .init("x-gitlab-event", "Push Hook")]))
        #expect((try ValuePath("query")).value(in: message) == .object([.init("ref", "main")]))
    }

    /// Bad input: a signed delivery's signature headers, the presets' and the one a `hmac` source names; with the body
    /// they would let whoever reads a published event post the delivery again, so no rule sees them.
    @Test func signaturesNeverReachTheRules() throws {
        let headers = HTTPHeaders([
            ("X-Hub-Signature-256", "sha256=ab"), ("X-Hub-Signature", "sha1=cd"), ("Stripe-Signature", "t=1,v1=ef"),
            ("X-Slack-Signature", "v0=12"), ("Webhook-Signature", "v1,34"), ("X-Acme-Signature", "56"), ("X-GitHub-Delivery", "d-1"),
        ])
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/hooks/s", headers: headers)
        let message = try WebhookMessage.make(
            source: "s", subPath: "", head: head, target: RequestTarget(head.uri), body: ByteBuffer(string: "{}"), roots: ["header"],
            signatureHeader: "x-acme-signature")
        #expect((try ValuePath("header")).value(in: message) == .object([.init("x-github-delivery", "d-1")]))
    }

    @Test func theMediaTypeDecidesHowTheBodyIsRead() throws {
        let json = try make(contentType: "Application/JSON; charset=utf-8", body: #"{"a":1}"#)
        #expect((try ValuePath("body.a")).value(in: json) == .number("1"))
        let text = try make(contentType: "text/plain", body: "hello")
        #expect((try ValuePath("text")).value(in: text) == .string("hello"))
        #expect((try ValuePath("body")).value(in: text) == .null)
        // Bad input: a media type hookstream does not read.
        #expect(throws: HTTPError.self) { try make(contentType: "image/png", body: "x") }
    }
}
