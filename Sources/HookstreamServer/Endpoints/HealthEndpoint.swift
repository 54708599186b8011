import HookstreamCore
import NIOHTTP1

/// `GET /healthz`: the process answers.
struct HealthEndpoint: HTTPEndpoint {
    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        .response(.json(.ok, .object([.init("status", "ok")])))
    }
}
