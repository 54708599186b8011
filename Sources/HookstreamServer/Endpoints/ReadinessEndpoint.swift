import HookstreamCore
import NIOHTTP1

/// `GET /readyz`: the daemon takes work. `503` once it is shutting down, or while its store refuses events, so a
/// balancer sends requests elsewhere; `200` with `"status": "degraded"` and a reason while the store takes events
/// but cannot write them where it should (a monitor alerts on it before publishes fail).
struct ReadinessEndpoint: HTTPEndpoint {
    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        if server.isShuttingDown {
            return .response(HTTPResponse(error: HTTPError(.serviceUnavailable, code: "shutting_down", "the server is shutting down")))
        }
        switch server.broker.store.condition {
        case .healthy:
            return .response(.json(.ok, .object([.init("status", "ready")])))
        case .degraded(let reason):
            return .response(.json(.ok, .object([.init("status", "degraded"), .init("reason", .string(reason))])))
        case .refusing(let reason):
            return .response(HTTPResponse(error: HTTPError(.serviceUnavailable, code: "store_unavailable", reason)))
        }
    }
}
