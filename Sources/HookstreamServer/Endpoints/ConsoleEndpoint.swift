import HookstreamCore
import NIOHTTP1

/// `GET /console`: a page to watch topics live, served from the binary (no CDN, no build step).
struct ConsoleEndpoint: HTTPEndpoint {
    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        .response(
            HTTPResponse(
                status: .ok,
                headers: [
                    ("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache"),
                    ("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
                ],
                body: ConsolePage.html))
    }
}
