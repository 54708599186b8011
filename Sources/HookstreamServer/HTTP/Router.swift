import NIOHTTP1

/// The route table: each endpoint is one entry (methods, path pattern, what serves it), matched in order.
///
/// A pattern is `/`-separated: a literal segment, `*` for any one segment, or a final `**` for any rest, empty
/// included. What the wildcards matched is handed to the endpoint as ``HTTPRequest/parameters``.
struct Router: Sendable {
    /// What serves a route.
    enum Target: Sendable {
        case endpoint(any HTTPEndpoint)
        /// `GET /events`: the connection becomes an event stream.
        case eventStream
    }

    struct Route: Sendable {
        /// One segment of a pattern, parsed once so that matching compares no wildcard text.
        enum Segment: Sendable {
            case literal(Substring)
            /// `*`
            case one
            /// A final `**`
            case rest
        }

        let methods: [HTTPMethod]
        let pattern: [Segment]
        let target: Target

        init(_ methods: [HTTPMethod], _ pattern: String, _ target: Target) {
            self.methods = methods
            self.pattern = pattern.split(separator: "/").map { $0 == "**" ? .rest : $0 == "*" ? .one : .literal($0) }
            self.target = target
        }
    }

    /// The result of looking a request up.
    enum Match {
        case found(Target, parameters: [String])
        /// The path exists, with other methods.
        case methodNotAllowed(allowed: [HTTPMethod])
        case notFound
    }

    let routes: [Route]

    init(_ routes: [Route]) { self.routes = routes }

    func match(method: HTTPMethod, path: String) -> Match {
        let segments = path.split(separator: "/")
        var allowed: [HTTPMethod] = []
        for route in routes {
            guard let parameters = Router.match(route.pattern, segments) else { continue }
            if route.methods.contains(method) { return .found(route.target, parameters: parameters) }
            allowed += route.methods.filter { !allowed.contains($0) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    private static func match(_ pattern: [Route.Segment], _ segments: [Substring]) -> [String]? {
        // Most routes differ in their first segment: refuse them before allocating anything.
        if case .literal(let first) = pattern.first, !(segments.first.map { Router.same($0, first) } ?? false) { return nil }
        var parameters: [String] = []
        for (i, part) in pattern.enumerated() {
            switch part {
            case .rest:
                parameters.append(segments.dropFirst(i).joined(separator: "/"))
                return parameters
            case .one:
                guard i < segments.count else { return nil }
                parameters.append(String(segments[i]))
            case .literal(let literal):
                guard i < segments.count, Router.same(segments[i], literal) else { return nil }
            }
        }
        return segments.count == pattern.count ? parameters : nil
    }

    /// Path segments are compared byte for byte: a path is not Unicode text to normalize, and `==` on substrings
    /// took the generic string comparison, the largest part of a route lookup.
    private static func same(_ segment: Substring, _ literal: Substring) -> Bool {
        segment.utf8.elementsEqual(literal.utf8)
    }
}

extension Router {
    /// hookstream's endpoints.
    static let hookstream = Router([
        Route([.GET], "events", .eventStream),
        Route([.POST, .PUT, .PATCH], "hooks/*/**", .endpoint(WebhookEndpoint())),
        Route([.POST], "publish", .endpoint(PublishEndpoint())),
        Route([.POST], "tickets", .endpoint(TicketsEndpoint())),
        Route([.OPTIONS], "events", .endpoint(PreflightEndpoint())),
        Route([.OPTIONS], "publish", .endpoint(PreflightEndpoint())),
        Route([.OPTIONS], "tickets", .endpoint(PreflightEndpoint())),
        Route([.GET], "console", .endpoint(ConsoleEndpoint())),
        Route([.GET], "healthz", .endpoint(HealthEndpoint())),
        Route([.GET], "readyz", .endpoint(ReadinessEndpoint())),
        Route([.GET], "metrics", .endpoint(MetricsEndpoint())),
    ])
}
