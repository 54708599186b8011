import NIOHTTP1
import Testing

@testable import HookstreamServer

@Suite struct RouterTests {
    /// A route table with each kind of segment; targets are told apart by the parameters they get.
    let router = Router([
        Router.Route([.GET], "events", .eventStream),
        Router.Route([.POST, .PUT], "hooks/*/**", .eventStream),
        Router.Route([.GET], "a/*/c", .eventStream),
        Router.Route([.OPTIONS], "events", .eventStream),
    ])

    private func parameters(_ method: HTTPMethod, _ path: String) -> [String]? {
        if case .found(_, let parameters) = router.match(method: method, path: path) { return parameters }
        return nil
    }

    @Test func literalRoutesMatchWholeSegmentsOnly() {
        #expect(parameters(.GET, "/events") == [])
        #expect(parameters(.GET, "/events/") == [])
        #expect(parameters(.GET, "/eventsx") == nil)
        #expect(parameters(.GET, "/event") == nil)
        #expect(parameters(.GET, "/events/more") == nil)
        #expect(parameters(.GET, "/") == nil)
        #expect(parameters(.GET, "") == nil)
    }

    @Test func wildcardsHandTheirSegmentsOver() {
        #expect(parameters(.POST, "/hooks/github") == ["github", ""])
        #expect(parameters(.POST, "/hooks/github/") == ["github", ""])
        #expect(parameters(.PUT, "/hooks/github/push/main") == ["github", "push/main"])
        // Empty segments do not count, as with `split`: the rest is joined by single slashes.
        #expect(parameters(.POST, "//hooks//github//push///main/") == ["github", "push/main"])
        #expect(parameters(.POST, "/hooks") == nil)
        #expect(parameters(.GET, "/a/b/c") == ["b"])
        #expect(parameters(.GET, "/a/b") == nil)
        #expect(parameters(.GET, "/a/b/c/d") == nil)
    }

    @Test func segmentsAreComparedAsBytes() {
        // "é" precomposed and decomposed are one Character but different bytes: a path is not normalized.
        let precomposed = Router([Router.Route([.GET], "caf\u{E9}", .eventStream)])
        if case .found = precomposed.match(method: .GET, path: "/caf\u{E9}") {} else { Issue.record("the same bytes did not match") }
        if case .notFound = precomposed.match(method: .GET, path: "/cafe\u{301}") {} else { Issue.record("other bytes matched") }
        #expect(parameters(.POST, "/hooks/\u{1F600}/x") == ["\u{1F600}", "x"])
    }

    @Test func aPathWithOtherMethodsListsThemOnce() {
        guard case .methodNotAllowed(let allowed) = router.match(method: .DELETE, path: "/events") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowed == [.GET, .OPTIONS])
        guard case .methodNotAllowed(let hooks) = router.match(method: .GET, path: "/hooks/x") else {
            Issue.record("expected 405")
            return
        }
        #expect(hooks == [.POST, .PUT])
        if case .notFound = router.match(method: .GET, path: "/nothing") {} else { Issue.record("expected 404") }
    }
}
