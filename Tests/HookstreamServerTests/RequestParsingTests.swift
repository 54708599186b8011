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
        return try StreamRequest(head: head, target: RequestTarget(uri), authenticator: authenticator)
    }

    @Test func queryIsPercentDecoded() {
        let target = RequestTarget("/events?topic=demo%2F%2A%2A&topic=a+b&x")
        #expect(target.path == "/events")
        #expect(target.values("topic") == ["demo/**", "a b"])
        #expect(target.value("x") == "")
    }

    @Test func tokenByHeaderCookieOrQuery() throws {
        #expect(try request("/events?topic=demo/x", headers: [("Authorization", "Bearer demo-token")]).token.name == "demo")
        #expect(try request("/events?topic=demo/x", headers: [("Cookie", "a=b; hookstream_token=demo-token")]).token.name == "demo")
        #expect(try request("/events?topic=demo/x&access_token=demo-token").token.name == "demo")
    }

    @Test func statusesForBadRequests() {
        func status(_ uri: String, _ headers: [(String, String)] = []) -> UInt {
            do {
                _ = try request(uri, headers: headers)
                return 200
            } catch {
                return error.status.code
            }
        }
        #expect(status("/events?topic=demo/x") == 401)
        #expect(status("/events?topic=demo/x&access_token=wrong") == 401)
        #expect(status("/events?topic=demo/x", [("Authorization", "Basic abc")]) == 401)
        #expect(status("/events?topic=other/x&access_token=demo-token") == 403)
        #expect(status("/events?topic=**&access_token=demo-token") == 403)
        #expect(status("/events?access_token=demo-token") == 400)
        #expect(status("/events?topic=demo//x&access_token=demo-token") == 400)
        #expect(status("/events?topic=demo/x&access_token=demo-token&lastEventId=abc") == 400)
    }

    @Test func resumeByEachSpelling() throws {
        #expect(try request("/events?topic=demo/x&access_token=demo-token", headers: [("Last-Event-ID", "42")]).lastEventID == 42)
        #expect(try request("/events?topic=demo/x&access_token=demo-token&lastEventId=7").lastEventID == 7)
        #expect(try request("/events?topic=demo/x&access_token=demo-token&last_event_id=9").lastEventID == 9)
        #expect(try request("/events?topic=demo/x&access_token=demo-token").lastEventID == nil)
    }

    @Test func constantTimeCompare() {
        #expect(ConstantTime.equals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!ConstantTime.equals([], Array("a".utf8)))
    }
}
