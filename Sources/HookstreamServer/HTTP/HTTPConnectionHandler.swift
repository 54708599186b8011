import HookstreamCore
import Logging
import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection: parses requests, answers the request/response endpoints, and turns itself into an
/// event stream for `GET /events`. Responses are written as raw bytes (there is no response encoder in the
/// pipeline), so stream chunks go to the socket with no per-write encoding.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer)
        /// A request is being answered asynchronously; later requests wait in `queued`.
        case busy
        /// The body was refused (too large); the connection closes after the answer.
        case discarding
        case streaming(StreamSubscriber)
        case closed
    }

    private let server: ServerContext
    private var state = State.idle
    private var queued: [HTTPServerRequestPart] = []

    init(server: ServerContext) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch state {
        case .busy:
            queued.append(part)
        case .streaming, .closed, .discarding:
            break  // a stream's connection carries nothing more from the client
        case .idle, .receiving:
            handle(part, context: context)
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (part, state) {
        case (.head(let head), .idle):
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > server.configuration.server.bodyLimit {
                refuseTooLarge(context: context, keepAlive: false)
                return
            }
            state = .receiving(head, context.channel.allocator.buffer(capacity: 0))
        case (.body(var chunk), .receiving(let head, var body)):
            state = .idle  // let `body` be uniquely referenced while appending
            if body.readableBytes + chunk.readableBytes > server.configuration.server.bodyLimit {
                refuseTooLarge(context: context, keepAlive: false)
                return
            }
            body.writeBuffer(&chunk)
            state = .receiving(head, body)
        case (.end, .receiving(let head, let body)):
            route(head: head, body: body, context: context)
        default:
            break
        }
    }

    private func refuseTooLarge(context: ChannelHandlerContext, keepAlive: Bool) {
        state = .discarding
        let limit = server.configuration.server.bodyLimit
        server.logger.info("Request refused: body too large", metadata: ["limit": "\(limit)"])
        let error = HTTPError(.payloadTooLarge, code: "body_too_large", "the request body is larger than the limit of \(limit) bytes")
        respond(HTTPResponse(error: error), keepAlive: false, context: context)
    }

    // MARK: Routing

    private func route(head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        let target = RequestTarget(head.uri)
        let keepAlive = head.isKeepAlive
        state = .idle
        let segments = target.path.split(separator: "/", omittingEmptySubsequences: true)
        switch (head.method, segments.first, segments.count) {
        case (.GET, "healthz", 1), (.HEAD, "healthz", 1):
            respond(.json(.ok, .object([.init("status", "ok")])), keepAlive: keepAlive, context: context)
        case (.GET, "readyz", 1), (.HEAD, "readyz", 1):
            if server.isShuttingDown {
                respond(HTTPResponse(error: HTTPError(.serviceUnavailable, code: "shutting_down", "the server is shutting down")), keepAlive: false, context: context)
            } else {
                respond(.json(.ok, .object([.init("status", "ready")])), keepAlive: keepAlive, context: context)
            }
        case (.GET, "events", 1):
            startStream(head: head, target: target, context: context)
        case (.POST, "hooks", 2):
            let source = String(segments[1])
            guard server.webhooks.acceptsWebhooks(source) else {
                respond(HTTPResponse(error: HTTPError(.notFound, code: "unknown_source", "no webhook source named '\(source)'")), keepAlive: keepAlive, context: context)
                return
            }
            runAsync(keepAlive: keepAlive, context: context) { [server] in
                await server.webhooks.handle(source: source, head: head, target: target, body: body)
            }
        case (_, "hooks", 2), (_, "events", 1), (_, "healthz", 1), (_, "readyz", 1):
            let allowed = segments.first == "hooks" ? "POST" : "GET"
            respond(
                HTTPResponse(error: HTTPError(.methodNotAllowed, code: "method_not_allowed", "use \(allowed) for \(target.path)", headers: [("Allow", allowed)])),
                keepAlive: keepAlive, context: context)
        default:
            respond(HTTPResponse(error: HTTPError(.notFound, code: "not_found", "no route for \(head.method) \(target.path)")), keepAlive: keepAlive, context: context)
        }
    }

    /// Answers from an async job, holding back later pipelined requests until the answer is written.
    private func runAsync(keepAlive: Bool, context: ChannelHandlerContext, _ work: @escaping @Sendable () async -> HTTPResponse) {
        state = .busy
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let accepted = server.jobs.submit {
            let response = await work()
            loop.execute {
                let (handler, context) = loopBound.value
                guard case .busy = handler.state else { return }
                handler.state = .idle
                handler.respond(response, keepAlive: keepAlive, context: context)
                handler.processQueued(context: context)
            }
        }
        if !accepted {
            state = .idle
            respond(HTTPResponse(error: HTTPError(.serviceUnavailable, code: "shutting_down", "the server is shutting down")), keepAlive: false, context: context)
        }
    }

    private func processQueued(context: ChannelHandlerContext) {
        while !queued.isEmpty, case .idle = state {
            handle(queued.removeFirst(), context: context)
        }
        if case .receiving = state {
            while !queued.isEmpty, case .receiving = state { handle(queued.removeFirst(), context: context) }
        }
    }

    private func respond(_ response: HTTPResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        let bytes = response.encode(keepAlive: keepAlive, allocator: context.channel.allocator)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        } else {
            state = .closed
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    // MARK: Event streams

    private func startStream(head: HTTPRequestHead, target: RequestTarget, context: ChannelHandlerContext) {
        let request: StreamRequest
        do {
            request = try StreamRequest(head: head, target: target, authenticator: server.authenticator)
        } catch {
            server.logger.info("Stream refused", metadata: ["status": "\(error.status.code)", "error": "\(error.message)"])
            respond(HTTPResponse(error: error), keepAlive: head.isKeepAlive, context: context)
            return
        }
        guard head.version.major == 1, head.version.minor >= 1 else {
            respond(HTTPResponse(error: HTTPError(.httpVersionNotSupported, code: "http_version", "event streams need HTTP/1.1")), keepAlive: false, context: context)
            return
        }
        let streams = server.configuration.streams
        let logger = server.logger.with(metadataKey: "hookstream.token", "\(request.token.name)")
        let subscriber = StreamSubscriber(
            context: context, filter: request.filter, tokenName: request.token.name, resumingAfter: request.lastEventID,
            queue: streams.queue, logger: logger)
        let hub = server.hubs.hub(for: context.eventLoop)
        guard hub.add(subscriber) else {
            respond(HTTPResponse(error: HTTPError(.serviceUnavailable, code: "shutting_down", "the server is shutting down")), keepAlive: false, context: context)
            return
        }
        state = .streaming(subscriber)
        context.write(wrapOutboundOut(StreamFraming.head), promise: nil)
        context.writeAndFlush(wrapOutboundOut(StreamFraming.greeting(retry: streams.retry)), promise: nil)
        logger.debug(
            "Stream opened",
            metadata: ["hookstream.topics": "\(request.filter.patterns.map(\.description))", "hookstream.last_event_id": "\(request.lastEventID.map(String.init) ?? "none")"])
        if let lastEventID = request.lastEventID {
            StreamReplay(subscriber: subscriber, store: server.broker.store, eventLoop: context.eventLoop, logger: logger)
                .start(after: lastEventID, jobs: server.jobs)
        }
    }

    // MARK: Connection events

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .streaming(let subscriber) = state {
            subscriber.writabilityChanged(context.channel.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .streaming(let subscriber) = state {
            subscriber.markClosed()
            server.hubs.hub(for: context.eventLoop).remove(subscriber)
            subscriber.logger.debug("Stream closed", metadata: ["hookstream.last_event_id": "\(subscriber.state.lastDeliveredID)"])
        }
        state = .closed
        queued.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError, case .idle = state {
            respond(HTTPResponse(error: HTTPError(.badRequest, code: "bad_request", "malformed HTTP request")), keepAlive: false, context: context)
            return
        }
        context.close(promise: nil)
    }
}
