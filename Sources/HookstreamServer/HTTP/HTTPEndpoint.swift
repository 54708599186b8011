/// One request/response endpoint of the route table: answers a request now, or later from any thread.
protocol HTTPEndpoint: Sendable {
    /// Handles `request` on its connection's event loop.
    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer
}

/// An endpoint's answer.
enum HTTPAnswer {
    /// Ready now.
    case response(HTTPResponse)
    /// Produced later: the closure runs at once and must call `complete` exactly once, from any thread. Answers on
    /// one connection still go out in request order.
    case deferred((_ complete: @escaping @Sendable (HTTPResponse) -> Void) -> Void)
}
