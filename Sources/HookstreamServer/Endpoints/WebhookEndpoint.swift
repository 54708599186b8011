import HookstreamCore
import NIOHTTP1

/// `POST /hooks/<source>[/<path>]`: a webhook for a source (see ``WebhookIngest``).
struct WebhookEndpoint: HTTPEndpoint {
    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        let name = request.parameters[0]
        guard let source = request.settings.configuration.sources[name], source.kind == .webhook else {
            server.metrics.webhook(source: "(unknown)", status: 404)
            return .response(HTTPResponse(error: HTTPError(.notFound, code: "unknown_source", "no webhook source named '\(name)'")))
        }
        let batcher = server.batcher(for: request.eventLoop)
        return .deferred { complete in
            server.webhooks.handle(
                source: source, subPath: request.parameters[1], head: request.head, target: request.target, body: request.body,
                settings: request.settings, batcher: batcher, completion: complete)
        }
    }
}
