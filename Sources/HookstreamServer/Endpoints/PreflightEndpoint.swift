import HookstreamCore
import NIOHTTP1

/// `OPTIONS` for the API a page calls with credentials (`/tickets`, `/publish`, `/events`): the CORS preflight. The
/// router adds the CORS headers for configured origins; for any other origin the answer carries none, and the
/// browser does not send the request.
struct PreflightEndpoint: HTTPEndpoint {
    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        let allowed = request.settings.allows(origin: request.head.headers.first(name: "origin"))
        let headers: [(String, String)] =
            allowed
            ? [
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                ("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID"),
                ("Access-Control-Max-Age", "600"),
            ] : []
        return .response(HTTPResponse(status: .noContent, headers: headers, body: ""))
    }
}
