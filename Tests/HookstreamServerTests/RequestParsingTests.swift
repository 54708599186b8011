import HookstreamCore
import NIOHTTP1
import Testing

@testable import HookstreamServer

@Suite struct RequestParsingTests {
    let authenticator = Authenticator(tokens: [
        AccessToken(name: "demo", secret: "demo-token", subscribe: TopicFilter([try! TopicPattern("demo/**")]))
    ])

    private func request(_ uri: String, headers: [(String, String)] = []) throws(HTTPError) -> StreamRequest {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: HTTPHeaders(headers))
        return try StreamRequest(head: head, target: RequestTarget(uri))
    }

    private func grant(_ uri: String, headers: [(String, String)] = []) throws(HTTPError) -> Grant? {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: HTTPHeaders(headers))
        guard let secret = try RequestCredentials.secret(headers: head.headers, target: RequestTarget(uri), cookie: "hookstream_token") else { return nil }
        return authenticator.staticGrant(for: secret)
    }

    @Test func queryIsPercentDecoded() {
        let target = RequestTarget("/events?topic=demo%2F%2A%2A&topic=a+b&x")
        #expect(target.path == "/events")
        #expect(target.values("topic") == ["demo/**", "a b"])
        #expect(target.value("x") == "")
    }

    /// Bad input: a stream that names 65 topics, one more than a stream may.
    @Test func aStreamNamesAtMost64Topics() throws {
        func request(_ count: Int) throws(HTTPError) -> StreamRequest {
            let uri = "/events?" + (0..<count).map { "topic=t/\($0)" }.joined(separator: "&")
            return try StreamRequest(head: HTTPRequestHead(version: .http1_1, method: .GET, uri: uri), target: RequestTarget(uri))
        }
        #expect(try request(64).filter.patterns.count == 64)
        #expect { try request(65) } throws: { ($0 as? HTTPError)?.code == "too_many_topics" }
    }

    /// The absolute form (RFC 9112 3.2.2) and what is not it. Bad input: no host, a user before the host.
    @Test func absoluteFormTargets() throws {
        func parsed(_ uri: String) throws(HTTPError) -> [String]? { try AbsoluteFormTarget(uri).map { [$0.authority, $0.originForm] } }
        #expect(try parsed("http://example.com:8080/events?topic=a") == ["example.com:8080", "/events?topic=a"])
        #expect(try parsed("HTTPS://[::1]:443") == ["[::1]:443", "/"])
        #expect(try parsed("http://h?x=1") == ["h", "/?x=1"])
        #expect(try parsed("http://h#fragment") == ["h", "/"])
        for notAbsolute in ["/hooks/demo", "*", "127.0.0.1:443", "ftp://h/x", "http:/x", "httpx://h/", ""] {
            #expect(try parsed(notAbsolute) == nil, "\(notAbsolute)")
        }
        for bad in ["http:///x", "http://?x", "http://:8080/x", "http://user@h/", "https://u:p@h:1/x", "http://a b/"] {
            #expect(throws: HTTPError.self, "\(bad)") { try parsed(bad) }
        }
    }

    /// Bad input: escapes that are not `%` and two hex digits are kept as they are, with nothing after them lost.
    @Test func malformedEscapesAreKeptWhole() {
        #expect(RequestTarget("/e?a=%zz&b=a%4&c=%&d=%%41&e=%4g1&f=100%25").query.map(\.value) == ["%zz", "a%4", "%", "%A", "%4g1", "100%"])
    }

    /// The path is decoded when it has an escape of its own; one in the query only (or a `+`) leaves it as sent.
    @Test func thePathIsSplitFromTheQueryAndDecodedOnItsOwn() {
        let cases: [(uri: String, path: String, query: [String])] = [
            ("/hooks/demo", "/hooks/demo", []),
            ("/hooks/a%20b/c%2Fd?x=%41", "/hooks/a b/c/d", ["A"]),
            ("/hooks/a+b?x=a+b", "/hooks/a+b", ["a b"]),
            ("/hooks/é/%C3%A9?é=ü", "/hooks/é/é", ["ü"]),
            ("/hooks/x?%3F=?", "/hooks/x", ["?"]),
            ("/?", "/", []),
            ("?x=1", "", ["1"]),
            // Bad input: a `%` that escapes nothing, in the path and after it.
            ("/a%?b=%", "/a%", ["%"]),
        ]
        for (uri, path, query) in cases {
            let target = RequestTarget(uri)
            #expect(target.path == path, "\(uri)")
            #expect(target.query.map(\.value) == query, "\(uri)")
        }
    }

    @Test func tokenByHeaderCookieOrQuery() throws {
        #expect(try grant("/events?topic=demo/x", headers: [("Authorization", "Bearer demo-token")])?.name == "demo")
        #expect(try grant("/events?topic=demo/x", headers: [("Cookie", "a=b; hookstream_token=demo-token")])?.name == "demo")
        #expect(try grant("/events?topic=demo/x&access_token=demo-token")?.name == "demo")
        #expect(try grant("/events?topic=demo/x&access_token=wrong") == nil)
        #expect(try grant("/events?topic=demo/x") == nil)
        // Bad input: a bearer scheme without a token.
        #expect(throws: HTTPError.self) { try grant("/events?topic=demo/x", headers: [("Authorization", "Bearer ")]) }
        // A proxy's basic auth is passed over: alone it is no credential, beside the cookie or the query it hides neither.
        #expect(try grant("/events?topic=demo/x", headers: [("Authorization", "Basic dTpw")]) == nil)
        #expect(try grant("/events?topic=demo/x&access_token=demo-token", headers: [("Authorization", "Basic dTpw")])?.name == "demo")
        #expect(try grant("/events?topic=demo/x", headers: [("Authorization", "Basic dTpw"), ("Cookie", "hookstream_token=demo-token")])?.name == "demo")
        // The page's explicit ?access_token= wins over a stale cookie the browser sends anyway.
        #expect(try grant("/events?topic=demo/x&access_token=demo-token", headers: [("Cookie", "hookstream_token=stale")])?.name == "demo")
        let demo = try #require(try grant("/events?access_token=demo-token"))
        #expect(demo.maySubscribe(to: TopicFilter([try TopicPattern("demo/x")])))
        #expect(!demo.maySubscribe(to: TopicFilter([try TopicPattern("other/x")])))
        #expect(!demo.maySubscribe(to: TopicFilter([try TopicPattern("**")])))
    }

    @Test func statusesForBadRequests() {
        func status(_ uri: String) -> UInt {
            do {
                _ = try request(uri)
                return 200
            } catch {
                return error.status.code
            }
        }
        #expect(status("/events?topic=demo/x") == 200)
        #expect(status("/events") == 400)
        #expect(status("/events?topic=demo//x") == 400)
        #expect(status("/events?topic=demo/x&lastEventId=abc") == 400)
    }

    @Test func resumeByEachSpellingAndTickets() throws {
        #expect(try request("/events?topic=demo/x", headers: [("Last-Event-ID", "42")]).lastEventID == 42)
        #expect(try request("/events?topic=demo/x&lastEventId=7").lastEventID == 7)
        #expect(try request("/events?topic=demo/x&last_event_id=9").lastEventID == 9)
        #expect(try request("/events?topic=demo/x").lastEventID == nil)
        // The same id twice is that id; bad input: two different ids, which neither is taken.
        #expect(try request("/events?topic=demo/x", headers: [("Last-Event-ID", "42"), ("last-event-id", " 42")]).lastEventID == 42)
        #expect(throws: HTTPError.self) { try request("/events?topic=demo/x", headers: [("Last-Event-ID", "42"), ("Last-Event-ID", "7")]) }
        #expect(try request("/events?topic=demo/x&ticket=abc").ticket == "abc")
    }

    @Test func constantTimeCompare() {
        #expect(ConstantTime.equals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!ConstantTime.equals([], Array("a".utf8)))
    }
}
