import HookstreamCore
import NIOHTTP1

/// `GET /readyz`: the daemon takes work; `503` once it is shutting down, so a balancer sends requests elsewhere.
struct ReadinessEndpoint: HTTPEndpoint {
    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        if server.isShuttingDown {
            return .response(HTTPResponse(error: HTTPError(.serviceUnavailable, code: "shutting_down", "the server is shutting down")))
        }
        return .response(.json(.ok, .object([.init("status", "ready")])))
    }
}
