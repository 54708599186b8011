import Prometheus
import HookstreamCore
import NIOHTTP1

/// `GET /metrics`: the metrics in Prometheus' text format.
struct MetricsEndpoint: HTTPEndpoint {
    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        guard let registry = server.registry else {
            return .response(HTTPResponse(error: HTTPError(.notFound, code: "not_found", "metrics are not enabled in this process")))
        }
        return .response(
            HTTPResponse(status: .ok, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: registry.emitToString()))
    }
}
