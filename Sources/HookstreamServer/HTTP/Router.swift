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
            /// A literal segment's bytes.
            case literal([UInt8])
            /// `*`
            case one
            /// A final `**`
            case rest

            var isWildcard: Bool {
                if case .literal = self { return false }
                return true
            }
        }

        let methods: [HTTPMethod]
        let pattern: [Segment]
        let target: Target
        /// The wildcards in `pattern`: the parameters a match yields.
        let parameterCount: Int

        init(_ methods: [HTTPMethod], _ pattern: String, _ target: Target) {
            self.methods = methods
            self.pattern = pattern.split(separator: "/").map { $0 == "**" ? .rest : $0 == "*" ? .one : .literal(Array($0.utf8)) }
            self.target = target
            self.parameterCount = self.pattern.count(where: \.isWildcard)
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

    /// The route for `method` and `path`. Empty segments do not count (`/hooks//a/` is `/hooks/a`), and what `**`
    /// matched is its segments joined by single slashes.
    func match(method: HTTPMethod, path: String) -> Match {
        // One pass over the path's bytes per candidate route, with no array of segments: this runs on every
        // request, and allocations and generic collection code were most of its cost.
        var path = path
        return path.withUTF8 { bytes in
            var allowed: [HTTPMethod] = []
            for index in routes.indices {
                guard let parameters = Router.match(routes[index].pattern, parameterCount: routes[index].parameterCount, bytes) else { continue }
                if routes[index].methods.contains(method) { return .found(routes[index].target, parameters: parameters) }
                for other in routes[index].methods where !allowed.contains(other) { allowed.append(other) }
            }
            return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
        }
    }

    private static func match(_ pattern: [Route.Segment], parameterCount: Int, _ path: UnsafeBufferPointer<UInt8>) -> [String]? {
        var position = 0
        var parameters: [String] = []
        for part in pattern {
            // Room for them all at the first, when the literal segments before it matched: one allocation, not one
            // per parameter.
            if parameters.isEmpty, part.isWildcard { parameters.reserveCapacity(parameterCount) }
            switch part {
            case .rest:
                var rest: [UInt8] = []
                while let segment = nextSegment(path, &position) {
                    if !rest.isEmpty { rest.append(UInt8(ascii: "/")) }
                    rest.append(contentsOf: path[segment])
                }
                parameters.append(String(decoding: rest, as: UTF8.self))
                return parameters
            case .one:
                guard let segment = nextSegment(path, &position) else { return nil }
                parameters.append(String(decoding: path[segment], as: UTF8.self))
            case .literal(let literal):
                // Byte for byte: a path is not Unicode text to normalize.
                guard let segment = nextSegment(path, &position), path[segment].elementsEqual(literal) else { return nil }
            }
        }
        return nextSegment(path, &position) == nil ? parameters : nil
    }

    /// The next non-empty `/`-separated segment at or after `position`, which moves past it.
    private static func nextSegment(_ path: UnsafeBufferPointer<UInt8>, _ position: inout Int) -> Range<Int>? {
        let slash = UInt8(ascii: "/")
        while position < path.count, path[position] == slash { position += 1 }
        guard position < path.count else { return nil }
        let start = position
        while position < path.count, path[position] != slash { position += 1 }
        return start..<position
    }
}

extension Router {
    /// The methods a webhook may use.
    static let webhookMethods: [HTTPMethod] = [.POST, .PUT, .PATCH]

    /// hookstream's endpoints.
    static let hookstream = Router([
        Route([.GET], "events", .eventStream),
        Route(Router.webhookMethods, "hooks/*/**", .endpoint(WebhookEndpoint())),
        Route([.POST], "publish", .endpoint(PublishEndpoint())),
        Route([.POST], "tickets", .endpoint(TicketsEndpoint())),
        Route([.OPTIONS], "hooks/*/**", .endpoint(PreflightEndpoint(.webhook))),
        Route([.OPTIONS], "events", .endpoint(PreflightEndpoint())),
        Route([.OPTIONS], "publish", .endpoint(PreflightEndpoint())),
        Route([.OPTIONS], "tickets", .endpoint(PreflightEndpoint())),
        // HEAD wherever GET answers a request (monitors check health with it): the same head, no body. Not for
        // /events, whose GET is a stream, not an answer.
        Route([.GET, .HEAD], "console", .endpoint(ConsoleEndpoint())),
        Route([.GET, .HEAD], "healthz", .endpoint(HealthEndpoint())),
        Route([.GET, .HEAD], "readyz", .endpoint(ReadinessEndpoint())),
        Route([.GET, .HEAD], "metrics", .endpoint(MetricsEndpoint())),
    ])
}
