import HookstreamCore
import Logging
import NIOCore
import CoreMetrics
import NIOHTTP1

/// One HTTP/1.1 connection: parses requests, answers the request/response endpoints, and turns itself into an
/// event stream for `GET /events`. Responses are written as raw bytes (there is no response encoder in the
/// pipeline), so stream frames go to the socket with no per-write encoding.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        /// A request's head and the body so far, with the settings in force when it started.
        case receiving(HTTPRequestHead, ByteBuffer, LiveSettings)
        /// The body was refused (too large); the connection closes after the answer.
        case discarding
        case streaming(StreamSubscriber)
        case closed
    }

    /// A response owed to the client, in request order; `nil` until its async work is done.
    private struct Slot {
        var response: HTTPResponse?
        var keepAlive: Bool
    }

    /// Pipelined requests answered concurrently (their publishes share group commits and fan-out drains);
    /// past this many, reading pauses.
    static let maximumInFlight = 64

    private let server: ServerContext
    private var state = State.idle
    /// Responses not yet written; `slots[0]` has the number `firstSlot`.
    private var slots: [Slot] = []
    private var firstSlot = 0
    /// A stream request that waits for the responses before it.
    private var waitingStream: (head: HTTPRequestHead, target: RequestTarget)?
    /// Request parts held back while too much is in flight or a stream waits.
    private var queued: [HTTPServerRequestPart] = []
    /// Whether reading from the socket is paused because parts are held back.
    private var isReadPaused = false

    init(server: ServerContext) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch state {
        case .streaming, .closed, .discarding:
            break  // a stream's connection carries nothing more from the client
        case .idle, .receiving:
            if isHoldingBack {
                queued.append(part)
                if !isReadPaused {
                    isReadPaused = true
                    context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
                }
            } else {
                handle(part, context: context)
            }
        }
    }

    private var isHoldingBack: Bool { !queued.isEmpty || isAtCapacity }

    /// No further request may start: a stream waits for the answers before it, or too many answers are owed.
    private var isAtCapacity: Bool { waitingStream != nil || slots.count >= HTTPConnectionHandler.maximumInFlight }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (part, state) {
        case (.head(let head), .idle):
            let settings = server.settings
            let limit = settings.configuration.server.bodyLimit
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                refuseTooLarge(limit: limit, context: context)
                return
            }
            state = .receiving(head, context.channel.allocator.buffer(capacity: 0), settings)
        case (.body(var chunk), .receiving(let head, var body, let settings)):
            state = .idle  // let `body` be uniquely referenced while appending
            let limit = settings.configuration.server.bodyLimit
            if body.readableBytes + chunk.readableBytes > limit {
                refuseTooLarge(limit: limit, context: context)
                return
            }
            body.writeBuffer(&chunk)
            state = .receiving(head, body, settings)
        case (.end, .receiving(let head, let body, let settings)):
            route(head: head, body: body, settings: settings, context: context)
        default:
            break
        }
    }

    private func refuseTooLarge(limit: Int, context: ChannelHandlerContext) {
        state = .discarding
        server.logger.info("Request refused: body too large", metadata: ["limit": "\(limit)"])
        let error = HTTPError(.payloadTooLarge, code: "body_too_large", "the request body is larger than the limit of \(limit) bytes")
        respond(HTTPResponse(error: error), keepAlive: false, context: context)
    }

    // MARK: Routing

    private func route(head: HTTPRequestHead, body: ByteBuffer, settings: LiveSettings, context: ChannelHandlerContext) {
        let target = RequestTarget(head.uri)
        let keepAlive = head.isKeepAlive
        state = .idle
        switch Router.hookstream.match(method: head.method, path: target.path) {
        case .found(.eventStream, _):
            if slots.isEmpty {
                startStream(head: head, target: target, context: context)
            } else {
                waitingStream = (head, target)  // after the answers still owed on this connection
            }
        case .found(.endpoint(let endpoint), let parameters):
            let request = HTTPRequest(head: head, target: target, body: body, settings: settings, parameters: parameters, eventLoop: context.eventLoop)
            switch endpoint.answer(request, server: server) {
            case .response(let response): respond(response, keepAlive: keepAlive, context: context)
            case .deferred(let produce): produce(answerLater(keepAlive: keepAlive, context: context))
            }
        case .methodNotAllowed(let allowed):
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            respond(
                HTTPResponse(error: HTTPError(.methodNotAllowed, code: "method_not_allowed", "use \(list) for \(target.path)", headers: [("Allow", list)])),
                keepAlive: keepAlive, context: context)
        case .notFound:
            respond(HTTPResponse(error: HTTPError(.notFound, code: "not_found", "no route for \(head.method) \(target.path)")), keepAlive: keepAlive, context: context)
        }
    }

    /// Reserves the next answer's place and returns what fills it, from any thread. Later pipelined requests go on
    /// meanwhile (their publishes share group commits and drains); answers are written in request order.
    private func answerLater(keepAlive: Bool, context: ChannelHandlerContext) -> @Sendable (HTTPResponse) -> Void {
        let number = firstSlot + slots.count
        slots.append(Slot(response: nil, keepAlive: keepAlive))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        return { response in
            // Always queued, even on the loop: a publish that committed inline has just queued its fan-out on
            // this loop, and subscribers should have the event before the publisher has its answer.
            loop.execute {
                let (handler, context) = loopBound.value
                handler.complete(number, with: response, context: context)
            }
        }
    }

    private func respond(_ response: HTTPResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        slots.append(Slot(response: response, keepAlive: keepAlive))
        writeReadyResponses(context: context)
    }

    private func complete(_ number: Int, with response: HTTPResponse, context: ChannelHandlerContext) {
        let index = number - firstSlot
        guard index >= 0, index < slots.count else { return }  // the connection closed meanwhile
        slots[index].response = response
        writeReadyResponses(context: context)
    }

    /// Writes every answer at the head of the queue that is ready, flushes once, then resumes held-back input.
    private func writeReadyResponses(context: ChannelHandlerContext) {
        var wrote = false
        while let first = slots.first, let response = first.response {
            slots.removeFirst()
            firstSlot += 1
            let bytes = response.encode(keepAlive: first.keepAlive, allocator: context.channel.allocator)
            if first.keepAlive {
                context.write(wrapOutboundOut(bytes), promise: nil)
                wrote = true
            } else {
                state = .closed
                slots.removeAll()
                queued.removeAll()
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in channel.close(promise: nil) }
                return
            }
        }
        if wrote { context.flush() }
        guard slots.count < HTTPConnectionHandler.maximumInFlight else { return }
        if slots.isEmpty, let waiting = waitingStream {
            waitingStream = nil
            startStream(head: waiting.head, target: waiting.target, context: context)
        }
        while !queued.isEmpty, !isAtCapacity {
            switch state {
            case .idle, .receiving: handle(queued.removeFirst(), context: context)
            default: queued.removeAll()
            }
        }
        if isReadPaused, queued.isEmpty, case .idle = state {
            isReadPaused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            context.read()
        }
    }

    // MARK: Event streams

    private func startStream(head: HTTPRequestHead, target: RequestTarget, context: ChannelHandlerContext) {
        let settings = server.settings
        let request: StreamRequest
        do {
            request = try StreamRequest(head: head, target: target, authenticator: settings.authenticator)
        } catch {
            server.logger.info("Stream refused", metadata: ["status": "\(error.status.code)", "error": "\(error.message)"])
            respond(HTTPResponse(error: error), keepAlive: head.isKeepAlive, context: context)
            return
        }
        guard head.version.major == 1, head.version.minor >= 1 else {
            respond(HTTPResponse(error: HTTPError(.httpVersionNotSupported, code: "http_version", "event streams need HTTP/1.1")), keepAlive: false, context: context)
            return
        }
        let streams = settings.configuration.streams
        let logger = server.logger.with(metadataKey: "hookstream.token", "\(request.token.name)")
        let subscriber = StreamSubscriber(
            context: context, filter: request.filter, credential: request.credential, resumingAfter: request.lastEventID,
            queue: streams.queue, logger: logger)
        let hub = server.hubs.hub(for: context.eventLoop)
        guard hub.add(subscriber) else {
            respond(HTTPResponse(error: HTTPError(.serviceUnavailable, code: "shutting_down", "the server is shutting down")), keepAlive: false, context: context)
            return
        }
        state = .streaming(subscriber)
        // Through the subscriber, which keeps its direct sends behind these (and behind earlier answers on the
        // connection that NIO may still hold).
        subscriber.write(StreamFraming.head, flush: false)
        subscriber.write(StreamFraming.greeting(retry: streams.retry), flush: true)
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
            if subscriber.wasCut { server.metrics.subscribersCut.increment() }
            subscriber.logger.debug("Stream closed", metadata: ["hookstream.last_event_id": "\(subscriber.state.lastDeliveredID)"])
        }
        state = .closed
        queued.removeAll()
        slots.removeAll()
        waitingStream = nil
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
