import HookstreamCore
import NIOHTTP1

/// `OPTIONS` for what a page calls with credentials or a JSON body (`/tickets`, `/publish`, `/events`, and webhooks
/// to `/hooks/<source>`): the CORS preflight. The router adds the CORS headers for configured origins; for any other
/// origin the answer carries none, and the browser does not send the request.
struct PreflightEndpoint: HTTPEndpoint {
    /// What a preflight for this path allows: the methods its route takes.
    enum Kind {
        /// `/tickets`, `/publish`, `/events`.
        case api
        /// `/hooks/<source>`: a `fetch` with `Content-Type: application/json` (or any header of its own) asks first.
        case webhook
    }

    let kind: Kind

    init(_ kind: Kind = .api) { self.kind = kind }

    func answer(_ request: HTTPRequest, server: ServerContext) -> HTTPAnswer {
        guard request.settings.allows(origin: request.head.headers.first(name: "origin")) else {
            return .response(HTTPResponse(status: .noContent, headers: [], body: ""))
        }
        let headers: [(String, String)]
        // What a configured page asks to send it may: EventSource polyfills add headers of their own (`Cache-Control`,
        // `X-Requested-With`), and rules may read any header. Headers grant nothing here; the credential is checked
        // as for any request. Only a well-formed list is echoed, so nothing else reaches a response header.
        let asked = request.head.headers.first(name: "access-control-request-headers").flatMap(PreflightEndpoint.fieldNames)
        switch kind {
        case .api:
            headers = [
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                ("Access-Control-Allow-Headers", asked ?? "Authorization, Content-Type, Last-Event-ID"),
                ("Access-Control-Max-Age", "600"),
            ]
        case .webhook:
            headers = [
                ("Access-Control-Allow-Methods", Router.webhookMethods.map(\.rawValue).joined(separator: ", ") + ", OPTIONS"),
                ("Access-Control-Allow-Headers", asked ?? "Content-Type"),
                ("Access-Control-Max-Age", "600"),
            ]
        }
        return .response(HTTPResponse(status: .noContent, headers: headers, body: ""))
    }

    /// `value` when it is a comma-separated list of header names (RFC 9110 tokens), as a browser writes
    /// `Access-Control-Request-Headers`; `nil` otherwise, so that nothing else is echoed into a header.
    static func fieldNames(_ value: String) -> String? {
        let names = value.split(separator: ",").map { $0.trimmingSpaces() }
        guard !names.isEmpty, value.utf8.count <= 1024, names.allSatisfy({ name in
            !name.isEmpty && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
                default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
        }) else { return nil }
        return names.joined(separator: ", ")
    }
}
