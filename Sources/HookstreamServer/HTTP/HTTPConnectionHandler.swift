import HookstreamCore
import Logging
import NIOCore
import CoreMetrics
import NIOHTTP1
import NIOSSL

/// One HTTP/1.1 connection: parses requests, answers the request/response endpoints, and turns itself into an
/// event stream for `GET /events`. Responses are written as raw bytes (there is no response encoder in the
/// pipeline), so stream frames go to the socket with no per-write encoding.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler, ExpiringConnection {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        /// A request's head and the body so far, with the settings in force when it started.
        case receiving(HTTPRequestHead, ByteBuffer, LiveSettings)
        /// The body was refused (too large); the connection closes after the answer.
        case discarding
        /// A stream request whose JWT is being checked; what the client sends meanwhile is held back (a refused
        /// stream's connection goes on with it).
        case authenticating
        case streaming(StreamSubscriber)
        case closed
    }

    /// A response owed to the client, in request order; `nil` until its async work is done.
    private struct Slot {
        var response: HTTPResponse?
        var keepAlive: Bool
        /// Headers every answer to this request gets (CORS).
        var extraHeaders: [(String, String)] = []
        /// The request's body bytes, held in the server's ``BodyBudget`` until this answer is written (an answer
        /// made later gives them back itself, when its work is done).
        var bodyBytes = 0
        /// The answer to a `HEAD` request: its head only.
        var headOnly = false
    }

    /// Pipelined requests answered concurrently (their publishes share group commits and fan-out drains);
    /// past this many, reading pauses.
    static let maximumInFlight = 64

    private let server: ServerContext
    /// HTTP/1.1 (raw bytes out) or an HTTP/2 stream (response parts out, one request per stream).
    private let framing: StreamFraming.Kind
    /// Whether requests must name the server by a name it answers to (`server.hosts`): on a plain-HTTP listener.
    /// Over TLS a page under a rebound name would not get past the certificate.
    private let checksHost: Bool
    private var state = State.idle
    /// Responses not yet written; `slots[0]` has the number `firstSlot`.
    private var slots: [Slot] = []
    private var firstSlot = 0
    /// A stream request that waits for the responses before it.
    private var waitingStream: (head: HTTPRequestHead, target: RequestTarget)?
    /// Request parts held back while too much is in flight or a stream waits.
    private var queued: [HTTPServerRequestPart] = []  // an array: no allocation while empty, as on an idle stream
    /// Bytes that are no HTTP request came while a stream request's token was checked: its answer goes first.
    private var isMalformedBehindStreamRequest = false
    /// Whether reading from the socket is paused because parts are held back.
    private var isReadPaused = false
    /// Whether held-back parts are being handled: an answer written meanwhile must not start handling them again
    /// (a long pipeline would recurse once per request).
    private var isHandlingQueued = false
    /// When the client has kept the connection waiting too long (``ConnectionSweeper``): the request in progress
    /// (or the first one) by `server.limits.request_timeout`, the next one by `server.limits.idle_timeout`.
    private(set) var expiry = NIODeadline.distantFuture
    var sweeperSlot = -1
    /// `server.limits.idle_timeout` as in force when the last request started (read with its settings, not again).
    private var idleTimeout = TimeAmount.zero
    /// Whether any request has started on the connection (an expiry before the first one is logged).
    private var hasStarted = false
    private var context: ChannelHandlerContext?
    /// Bytes of the request being received that are taken from the server's ``BodyBudget``: what answers it holds
    /// them once it is routed; given back at once when it is refused, or the connection ends.
    private var heldBodyBytes = 0

    /// - Parameter firstRequestBy: when the connection's first request must have arrived whole: `request_timeout`
    ///   after the connection was accepted (a TLS handshake counts against it). By default, that long from now (an
    ///   HTTP/2 stream's request, from the stream's start).
    /// - Parameter checksHost: whether the connection came to a plain-HTTP listener, whose requests' `Host` is checked.
    init(server: ServerContext, framing: StreamFraming.Kind = .http1, checksHost: Bool, firstRequestBy: NIODeadline? = nil) {
        self.server = server
        self.framing = framing
        self.checksHost = checksHost
        if let firstRequestBy { expiry = firstRequestBy }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let limits = server.settings.configuration.server
        if expiry == .distantFuture { expiry = .now() + TimeAmount(limits.requestTimeout) }
        idleTimeout = TimeAmount(limits.idleTimeout)
        server.sweeper(for: context.eventLoop).add(self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch state {
        case .streaming, .closed, .discarding:
            break  // a stream's connection carries nothing more from the client
        case .idle, .receiving, .authenticating:
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

    /// No further request may start: a stream waits for the answers before it, too many answers are owed, or the
    /// client does not take the answers written.
    private var isAtCapacity: Bool {
        if case .authenticating = state { return true }
        return waitingStream != nil || slots.count >= HTTPConnectionHandler.maximumInFlight || isClientBehind
    }

    /// HTTP/1.1: NIO holds more of this connection's answers than its high-water mark, because the client does not
    /// read them. Answers made at once (`/console`, `/healthz`, a 404) leave no slot owed, so without this a client
    /// that pipelines requests and never reads would have the server read on and hold every answer in memory.
    private var isClientBehind = false

    /// HTTP/1.1: the client ended its side of the connection (after its last request, or by closing; over TLS by its
    /// close_notify or a bare TCP end). What it sent before is still answered, then the connection closes.
    private var isInputClosed = false

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        // By the part first, then the state: a `switch (part, state)` copies both into a tuple, retaining the head,
        // the body and the settings of a request being received, for every part.
        switch part {
        case .head(var head):
            guard case .idle = state else { return }
            let settings = server.settings
            // The first request keeps the deadline its connection started with (a head trickled in after a slow
            // handshake gets no more time); a later one has request_timeout from its head (its wait for the head
            // was bounded by idle_timeout).
            if hasStarted { expiry = .now() + TimeAmount(settings.configuration.server.requestTimeout) }
            hasStarted = true
            idleTimeout = TimeAmount(settings.configuration.server.idleTimeout)
            // Before anything else of the request, its body above all: a page under a rebound name must not make the
            // server hold bodies for it, nor learn anything from an answer other than this one.
            if let refusal = HTTPConnectionHandler.hostRefusal(&head, checksName: checksHost, settings: settings) {
                refuseHost(refusal, head: head, settings: settings, context: context)
                return
            }
            if let refusal = BodyRefusal.of(head.headers, bodyLimit: settings.configuration.server.bodyLimit) {
                refuseBody(refusal, head: head, settings: settings, context: context)
                return
            }
            // A client that asks first waits for this, or for a final answer, before it sends its body (curl, .NET,
            // PHP's libcurl for larger bodies: a second's wait each, RFC 9110 10.1.1). Only when nothing is owed
            // before it, which the 100 would overtake; a pipelining client that asks waits out its own timeout.
            if slots.isEmpty, HTTPConnectionHandler.expectsContinue(head) {
                if case .http2 = framing {
                    // A HEADERS frame of its own, the stream left open (swift-nio-http2 allows 1xx before the answer).
                    context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http2, status: .continue))), promise: nil)
                } else {
                    context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
                }
            }
            state = .receiving(head, context.channel.allocator.buffer(capacity: 0), settings)
        case .body(var chunk):
            guard case .receiving(let head, var body, let settings) = state else { return }
            state = .idle  // let `body` be uniquely referenced while appending
            let limits = settings.configuration.server
            if body.readableBytes + chunk.readableBytes > limits.bodyLimit {
                refuseBody(.tooLarge(limit: limits.bodyLimit), head: head, settings: settings, context: context)
                return
            }
            guard server.bodyBudget.reserve(chunk.readableBytes, limit: limits.bufferedBodiesLimit) else {
                refuseBusy(limit: limits.bufferedBodiesLimit, head: head, settings: settings, context: context)
                return
            }
            heldBodyBytes += chunk.readableBytes
            body.writeBuffer(&chunk)
            state = .receiving(head, body, settings)
        case .end:
            guard case .receiving(let head, let body, let settings) = state else { return }
            route(head: head, body: body, bodyBytes: takeBody(), settings: settings, context: context)
        }
    }

    /// Answers `refusal` for a request whose body is not taken, and closes the connection (the rest of the body is
    /// not read).
    private func refuseBody(_ refusal: BodyRefusal, head: HTTPRequestHead, settings: LiveSettings, context: ChannelHandlerContext) {
        releaseBody()
        state = .discarding
        var metadata = refusal.metadata
        if let source = HTTPConnectionHandler.webhookSource(of: head, settings: settings) {
            metadata["hookstream.source"] = "\(source)"
            server.metrics.webhook(source: source, status: refusal.error.status.code)
        }
        server.logger.info("Request refused: \(refusal.reason)", metadata: metadata)
        respond(HTTPResponse(error: refusal.error), keepAlive: false, headOnly: head.method == .HEAD, context: context)
    }

    /// Why a request is refused for its host, if it is, as RFC 9112 3.2 wants: none on an HTTP/1.1 request, more
    /// than one (which one a proxy in front read cannot be known), or a target in absolute form that names a user; and,
    /// when `checksName` (a plain-HTTP listener), a name the server does not answer to (``LiveSettings/refuses(host:)``).
    /// A target in absolute form is turned into the origin form first, its authority standing for the `Host`.
    private static func hostRefusal(_ head: inout HTTPRequestHead, checksName: Bool, settings: LiveSettings) -> HostRefusal? {
        // One pass over the headers for the value and its count, without the array `headers["host"]` would make.
        var host: String?
        for (name, value) in head.headers where HTTPConnectionHandler.isHost(name) {
            guard host == nil else {
                return HostRefusal(
                    host: head.headers["host"].joined(separator: ", "),
                    error: HTTPError(.badRequest, code: "duplicate_host", "the request has more than one Host header"))
            }
            host = value
        }
        // HTTP/1.0 had no Host; HTTP/2's requests come here with their :authority as one.
        if host == nil, head.version.major == 1, head.version.minor >= 1 {
            return HostRefusal(
                host: "", error: HTTPError(.badRequest, code: "missing_host", "an HTTP/1.1 request must have a Host header"))
        }
        let sentHost = host
        do throws(HTTPError) {
            if let absolute = try AbsoluteFormTarget(head.uri) {
                head.uri = absolute.originForm
                head.headers.replaceOrAdd(name: "host", value: absolute.authority)
                host = absolute.authority
            }
        } catch {
            return HostRefusal(host: sentHost ?? "", error: error)
        }
        // The usual request, a name the server answers to, is judged by one parse of its Host.
        guard let host, checksName ? settings.refuses(host: host) : !host.trimmingSpaces().isEmpty else { return nil }
        guard let name = HostAllowList.name(ofHostHeader: host) else {
            return HostRefusal(
                host: host,
                error: HTTPError(.badRequest, code: "invalid_host", "the request's Host header is not a host name or an IP address, with perhaps a port"))
        }
        guard checksName else { return nil }
        return HostRefusal(
            host: host,
            error: HTTPError(
                .forbidden, code: "host_not_allowed",
                "this server answers to localhost, IP addresses and the names in server.hosts: add '\(name)' to server.hosts to allow it"))
    }

    /// Whether a request asks for `100 Continue` before it sends its body (HTTP/1.1 or HTTP/2; HTTP/1.0 clients get none).
    private static func expectsContinue(_ head: HTTPRequestHead) -> Bool {
        guard head.version.major >= 2 || head.version.minor >= 1, let expect = head.headers.first(name: "expect") else { return false }
        return expect.trimmingSpaces().lowercased() == "100-continue"
    }

    /// Whether a header's name is `Host`, in any case.
    private static func isHost(_ name: String) -> Bool {
        var utf8 = name.utf8.makeIterator()
        for expected in "host".utf8 {
            guard let byte = utf8.next(), byte | 0x20 == expected else { return false }
        }
        return utf8.next() == nil
    }

    /// A request refused for its host: the `Host` (as logged) and the answer.
    private struct HostRefusal {
        var host: String
        var error: HTTPError
        /// Whether it broke HTTP's rules (a 400) rather than named a host the server does not answer to (a 403).
        var isMalformed: Bool { error.status == .badRequest }
    }

    /// Refuses a request for its `Host`: its body is not read, and the connection closes after the answer.
    private func refuseHost(_ refusal: HostRefusal, head: HTTPRequestHead, settings: LiveSettings, context: ChannelHandlerContext) {
        state = .discarding
        if let source = HTTPConnectionHandler.webhookSource(of: head, settings: settings) {
            server.metrics.webhook(source: source, status: refusal.error.status.code)
        }
        server.logHostRefusal(host: refusal.host, isMalformed: refusal.isMalformed)
        respond(
            HTTPResponse(error: refusal.error), keepAlive: false, extraHeaders: settings.corsHeaders(origin: head.headers.first(name: "origin")),
            headOnly: head.method == .HEAD, context: context)
    }

    /// Refuses a request whose body does not fit in what the server holds of all bodies at once; the client may
    /// retry in a moment, once other requests are answered.
    private func refuseBusy(limit: Int, head: HTTPRequestHead, settings: LiveSettings, context: ChannelHandlerContext) {
        releaseBody()
        state = .discarding
        if let source = HTTPConnectionHandler.webhookSource(of: head, settings: settings) {
            server.metrics.webhook(source: source, status: HTTPResponseStatus.serviceUnavailable.code)
        }
        if let refused = server.bodyBudget.refusalToLog(now: NIODeadline.now().uptimeNanoseconds) {
            server.logger.warning(
                "Requests refused: the request bodies held at once reached server.limits.buffered_bodies",
                metadata: ["limit": "\(limit)", "refused": "\(refused)"])
        }
        let error = HTTPError(
            .serviceUnavailable, code: "server_busy",
            "the server holds as many request bodies as it may at once (server.limits.buffered_bodies, \(limit) bytes); retry in a moment",
            headers: [("Retry-After", "1")])
        respond(HTTPResponse(error: error), keepAlive: false, headOnly: head.method == .HEAD, context: context)
    }

    /// The webhook source a request is for, when it is for one: its refusals before it is routed (a body too large,
    /// bodies held past the budget) count among the source's answers in `hookstream_webhooks_total`.
    private static func webhookSource(of head: HTTPRequestHead, settings: LiveSettings) -> String? {
        guard case .found(.endpoint(let endpoint), let parameters) = Router.hookstream.match(method: head.method, path: RequestTarget(head.uri).path),
            endpoint is WebhookEndpoint, let name = parameters.first, settings.configuration.sources[name]?.kind == .webhook
        else { return nil }
        return name
    }

    /// Gives the request's body bytes back to the server's budget (idempotent).
    private func releaseBody() {
        server.bodyBudget.release(takeBody())
    }

    /// The request's body bytes, now to be held by whatever answers it.
    private func takeBody() -> Int {
        defer { heldBodyBytes = 0 }
        return heldBodyBytes
    }

    /// Drops the answers owed, giving their bodies' bytes back to the server's budget.
    private func dropSlots() {
        server.bodyBudget.release(slots.reduce(0) { $0 + $1.bodyBytes })
        slots.removeAll()
    }

    // MARK: Routing

    /// Routes a whole request; `bodyBytes`, taken from the server's ``BodyBudget`` for its body, are given back once
    /// nothing holds the body: when its answer is written, or when the work that answers later is done.
    private func route(head: HTTPRequestHead, body: ByteBuffer, bodyBytes: Int, settings: LiveSettings, context: ChannelHandlerContext) {
        let target = RequestTarget(head.uri)
        // After a CONNECT or an upgrade request NIO's decoder parses nothing more on the connection (the bytes would
        // be another protocol's): such a request gets its answer, then the connection closes.
        let keepAlive = head.isKeepAlive && !(framing == .http1 && HTTPConnectionHandler.endsHTTP(head))
        let cors = settings.corsHeaders(origin: head.headers.first(name: "origin"))
        let headOnly = head.method == .HEAD
        state = .idle
        expiry = .distantFuture  // an answer is owed: the wait is the server's
        switch Router.hookstream.match(method: head.method, path: target.path) {
        case .found(.eventStream, _):
            server.bodyBudget.release(bodyBytes)
            if slots.isEmpty {
                startStream(head: head, target: target, context: context)
            } else {
                waitingStream = (head, target)  // after the answers still owed on this connection
            }
        case .found(.endpoint(let endpoint), let parameters):
            let request = HTTPRequest(head: head, target: target, body: body, settings: settings, parameters: parameters, eventLoop: context.eventLoop)
            switch endpoint.answer(request, server: server) {
            case .response(let response):
                respond(response, keepAlive: keepAlive, extraHeaders: cors, bodyBytes: bodyBytes, headOnly: headOnly, context: context)
            case .deferred(let produce):
                produce(answerLater(keepAlive: keepAlive, extraHeaders: cors, bodyBytes: bodyBytes, headOnly: headOnly, context: context))
            }
        case .methodNotAllowed(let allowed):
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            respond(
                HTTPResponse(error: HTTPError(.methodNotAllowed, code: "method_not_allowed", "use \(list) for \(target.path)", headers: [("Allow", list)])),
                keepAlive: keepAlive, extraHeaders: cors, bodyBytes: bodyBytes, headOnly: headOnly, context: context)
        case .notFound:
            respond(
                HTTPResponse(error: HTTPError(.notFound, code: "not_found", "no route for \(head.method) \(target.path)")), keepAlive: keepAlive,
                extraHeaders: cors, bodyBytes: bodyBytes, headOnly: headOnly, context: context)
        }
    }

    /// Reserves the next answer's place and returns what fills it, from any thread. Later pipelined requests go on
    /// meanwhile (their publishes share group commits and drains); answers are written in request order.
    /// The body's `bodyBytes` are given back when the answer comes (the endpoint calls what this returns exactly
    /// once, when its work is done with the body), not when the slot goes: a connection that closes meanwhile
    /// does not stop that work.
    private func answerLater(
        keepAlive: Bool, extraHeaders: [(String, String)], bodyBytes: Int, headOnly: Bool, context: ChannelHandlerContext
    ) -> @Sendable (HTTPResponse) -> Void {
        let number = firstSlot + slots.count
        slots.append(Slot(response: nil, keepAlive: keepAlive, extraHeaders: extraHeaders, headOnly: headOnly))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let budget = server.bodyBudget
        return { response in
            budget.release(bodyBytes)
            // Always queued, even on the loop: a publish that committed inline has just queued its fan-out on
            // this loop, and subscribers should have the event before the publisher has its answer.
            loop.execute {
                let (handler, context) = loopBound.value
                handler.complete(number, with: response, context: context)
            }
        }
    }

    private func respond(
        _ response: HTTPResponse, keepAlive: Bool, extraHeaders: [(String, String)] = [], bodyBytes: Int = 0, headOnly: Bool = false,
        context: ChannelHandlerContext
    ) {
        slots.append(Slot(response: response, keepAlive: keepAlive, extraHeaders: extraHeaders, bodyBytes: bodyBytes, headOnly: headOnly))
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
            server.bodyBudget.release(first.bodyBytes)
            firstSlot += 1
            if case .http2 = framing {
                // An HTTP/2 stream carries one request: its answer ends the stream.
                let (head, body) = response.parts(extraHeaders: first.extraHeaders)
                context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
                if body.readableBytes > 0, !first.headOnly { context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil) }
                let ended = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
                // A refusal (413, 408, 400) ends the stream whatever the client still sends: it is reset.
                if !first.keepAlive { return close(after: ended, context: context) }
                continue
            }
            let bytes = response.encode(
                keepAlive: first.keepAlive, extraHeaders: first.extraHeaders, includeBody: !first.headOnly, allocator: context.channel.allocator)
            if first.keepAlive {
                context.write(wrapOutboundOut(bytes), promise: nil)
                wrote = true
            } else {
                return close(after: context.writeAndFlush(wrapOutboundOut(bytes)), context: context)
            }
        }
        if wrote { context.flush() }
        if slots.isEmpty, waitingStream == nil, case .idle = state {
            // Nothing owed, no request in progress: the connection idles until the next one starts. (An HTTP/2
            // stream that has its answer closes when the client ends its side too, or when this expires: a client
            // that never ends it, or never lets the answer out, must not hold the stream and its connection.)
            expiry = .now() + idleTimeout
        }
        takeHeldBack(context: context)
    }

    /// Closes the connection once the client that ended its side has every answer it is owed, and nothing it sent
    /// before is left to handle.
    private func closeIfClientLeft(context: ChannelHandlerContext) {
        guard isInputClosed, !isHandlingQueued, queued.isEmpty else { return }
        if case .receiving = state {
            // Half a request, and everything the client sent has been handled: the rest can no longer come. Not
            // handled, and nothing of it was accepted.
            releaseBody()
            state = .idle
        }
        guard slots.isEmpty, waitingStream == nil, case .idle = state else { return }
        closeBehindWrites(context: context)
    }

    /// Closes the connection once what NIO holds of it is written (a close alone would drop it); by `idle_timeout`
    /// at the latest, for a client that does not read it.
    private func closeBehindWrites(context: ChannelHandlerContext) {
        state = .closed
        expiry = .now() + idleTimeout
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Handles the request parts held back while the connection was at capacity, as far as it no longer is, and
    /// resumes reading once none is left.
    private func takeHeldBack(context: ChannelHandlerContext) {
        // A client that ended its side may now have every answer (also when the answers went out as it read them).
        defer { closeIfClientLeft(context: context) }
        guard slots.count < HTTPConnectionHandler.maximumInFlight else { return }
        if slots.isEmpty, let waiting = waitingStream {
            waitingStream = nil
            startStream(head: waiting.head, target: waiting.target, context: context)
        }
        guard !isHandlingQueued else { return }  // the loop below, further up the stack, goes on
        isHandlingQueued = true
        var pending: [HTTPServerRequestPart] = []
        swap(&pending, &queued)
        var next = 0
        while next < pending.count, !isAtCapacity {
            switch state {
            case .idle, .receiving:
                handle(pending[next], context: context)
                next += 1
            default:
                next = pending.count  // the connection closed or became a stream: the rest is dropped
            }
        }
        if next < pending.count { queued = Array(pending[next...]) + queued }
        isHandlingQueued = false
        // Reading resumes once nothing is held back, also in the middle of a request's body (the rest of it is
        // still to be read).
        guard queued.isEmpty, !isAtCapacity else { return }
        switch state {
        case .idle, .receiving: resumeReading(context: context)
        default: break
        }
    }

    /// Reads again what the client sends, if reading was paused to hold requests back.
    private func resumeReading(context: ChannelHandlerContext) {
        guard isReadPaused else { return }
        isReadPaused = false
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        context.read()
    }

    /// Closes the connection (for HTTP/2, the stream) once `answer` is written, dropping whatever the client still
    /// sends; by `idle_timeout` at the latest, if the answer never goes out (a client that stopped reading).
    ///
    /// Over HTTP/1.1 the server ends only its own side once the answer is written (over TLS, its close_notify and then
    /// its TCP end), and reads and drops what the client still sends (a body refused with 413 while it is uploading)
    /// until the client closes, for ``lingeringLimit`` at most: closed with unread bytes, the socket would answer them
    /// with a reset, which can take the answer away before the client reads it (nginx's `lingering_close`).
    private func close(after answer: EventLoopFuture<Void>, context: ChannelHandlerContext) {
        state = .closed
        releaseBody()
        dropSlots()
        queued.removeAll()
        let channel = context.channel
        guard case .http1 = framing else {
            answer.whenComplete { _ in channel.close(promise: nil) }
            expiry = .now() + idleTimeout
            return
        }
        answer.assumeIsolated().whenComplete { result in
            guard case .success = result, !self.isInputClosed else { return channel.close(promise: nil) }
            channel.close(mode: .output, promise: nil)
            self.expiry = .now() + min(self.idleTimeout, HTTPConnectionHandler.lingeringLimit)
            // Reading may have paused to hold requests back: what comes now is read and dropped.
            self.resumeReading(context: context)
        }
        expiry = .now() + idleTimeout
    }

    /// How long a connection that ended its side after a last answer waits for the client to close, reading and
    /// dropping what it sends.
    static let lingeringLimit = TimeAmount.seconds(5)

    /// Whether NIO's decoder stops parsing after `head`'s request: a CONNECT, or an upgrade (`Connection: upgrade`
    /// with an `Upgrade` header).
    static func endsHTTP(_ head: HTTPRequestHead) -> Bool {
        if head.method == .CONNECT { return true }
        guard head.headers.contains(name: "upgrade") else { return false }
        return head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }

    // MARK: Event streams

    private func startStream(head: HTTPRequestHead, target: RequestTarget, context: ChannelHandlerContext) {
        // A stream for a client that has ended its side (as `channelInactive` does for one that closes once streaming).
        if isInputClosed { return closeBehindWrites(context: context) }
        let settings = server.settings
        let cors = settings.corsHeaders(origin: head.headers.first(name: "origin"))
        let request: StreamRequest
        let credential: String
        do throws(HTTPError) {
            request = try StreamRequest(head: head, target: target)
            guard head.version.major >= 2 || (head.version.major == 1 && head.version.minor >= 1) else {
                throw HTTPError(.httpVersionNotSupported, code: "http_version", "event streams need HTTP/1.1")
            }
            if let ticket = request.ticket {
                // A ticket is its own credential, good once: what it was issued for decides.
                guard let redeemed = server.tickets.redeem(ticket, now: WallClock.milliseconds()) else {
                    throw HTTPError(.unauthorized, code: "invalid_ticket", "the ticket is unknown, already used, or expired: get a new one from POST /tickets")
                }
                guard request.filter.patterns.allSatisfy({ redeemed.topics.covers($0) }) else {
                    throw HTTPError(.forbidden, code: "forbidden", "the ticket was not issued for these topics")
                }
                if redeemed.settings === settings {
                    return openStream(request, grant: redeemed.grant, credential: redeemed.credential, settings: settings, cors: cors, head: head, context: context)
                }
                // Issued before a reload: its credential must still grant the topics under the settings in force.
                credential = redeemed.credential
            } else {
                guard let presented = try RequestCredentials.presented(headers: head.headers, target: target, cookie: settings.configuration.auth.cookie) else {
                    throw RequestCredentials.missing(cookie: settings.configuration.auth.cookie)
                }
                if presented.source == .cookie, !settings.isNotFromAForeignPage(headers: head.headers) {
                    throw RequestCredentials.foreignOrigin(head.headers.first(name: "origin"))
                }
                credential = presented.secret
            }
        } catch {
            return refuseStream(error, head: head, cors: cors, context: context)
        }
        authorizeStream(request, credential: credential, settings: settings, cors: cors, head: head, context: context)
    }

    /// Opens the stream if `credential` grants its topics under `settings`: at once for a static token, after an
    /// asynchronous check for a JWT. A reload during that check means checking again under the new settings: the
    /// reload's own check of open streams may have run before this stream was open.
    private func authorizeStream(
        _ request: StreamRequest, credential: String, settings: LiveSettings, cors: [(String, String)], head: HTTPRequestHead, context: ChannelHandlerContext
    ) {
        if let grant = settings.authenticator.staticGrant(for: credential) {
            return openStream(request, grant: grant, credential: credential, settings: settings, cors: cors, head: head, context: context)
        }
        guard settings.authenticator.needsJWTCheck(credential) else {
            return refuseStream(RequestCredentials.refused(AuthFailure("the token is not valid")), head: head, cors: cors, context: context)
        }
        // A JWT: checked off the loop (jwt-kit's keys are an actor); the connection waits, reading nothing.
        state = .authenticating
        expiry = .distantFuture
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let accepted = server.jobs.submit {
            let result = await settings.authenticator.grantResult(for: credential, now: WallClock.milliseconds())
            loop.execute {
                let (handler, context) = loopBound.value
                guard case .authenticating = handler.state else { return }  // the client went away meanwhile
                handler.state = .idle
                let current = handler.server.settings
                if current !== settings {
                    return handler.authorizeStream(request, credential: credential, settings: current, cors: cors, head: head, context: context)
                }
                switch result {
                case .success(let grant):
                    handler.openStream(request, grant: grant, credential: credential, settings: settings, cors: cors, head: head, context: context)
                case .failure(let failure):
                    handler.refuseStream(RequestCredentials.refused(failure), head: head, cors: cors, context: context)
                }
            }
        }
        if !accepted {
            state = .idle
            answerStreamWhileStopping(settings: settings, cors: cors, context: context)
        }
    }

    /// The answer to a stream asked for while the server stops: an empty stream that tells the client when to come
    /// back, as the open streams are told. A browser's `EventSource` takes any status but 200 as the end for good (it
    /// never reconnects), and at a stop a browser reconnects on a connection still open (HTTP/2's, a keep-alive
    /// one): a `503` there would leave its page without events until it is reloaded.
    private func answerStreamWhileStopping(settings: LiveSettings, cors: [(String, String)], context: ChannelHandlerContext) {
        let retry = StreamHub.reconnectDelay(within: settings.configuration.streams.drain)
        server.logger.info("Stream answered with retry: the server is stopping", metadata: ["retry_ms": "\(retry)"])
        let response = HTTPResponse(
            status: .ok, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")],
            body: "retry: \(retry)\n: hookstream is stopping\n\n")
        respond(response, keepAlive: false, extraHeaders: cors, context: context)
    }

    private func refuseStream(_ error: HTTPError, head: HTTPRequestHead, cors: [(String, String)], context: ChannelHandlerContext) {
        server.logger.info("Stream refused", metadata: ["status": "\(error.status.code)", "error": "\(error.message)"])
        respond(HTTPResponse(error: error), keepAlive: head.isKeepAlive && error.status != .httpVersionNotSupported, extraHeaders: cors, context: context)
        if isMalformedBehindStreamRequest, case .idle = state { refuseMalformed(context: context) }
    }

    private func openStream(
        _ request: StreamRequest, grant: Grant, credential: String, settings: LiveSettings, cors: [(String, String)], head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        guard grant.maySubscribe(to: request.filter) else {
            return refuseStream(StreamRequest.forbidden(request.filter, grant: grant), head: head, cors: cors, context: context)
        }
        let now = WallClock.milliseconds()
        if let expiresAt = grant.expiresAt, expiresAt <= now {
            return refuseStream(RequestCredentials.refused(AuthFailure("the token has expired", isExpired: true)), head: head, cors: cors, context: context)
        }
        let limit = settings.configuration.auth.maxStreamsPerToken ?? Int.max
        guard server.streamCounts.acquire(grant.identity, limit: limit) else {
            return refuseStream(
                HTTPError(.tooManyRequests, code: "too_many_streams", "this token already holds \(limit) streams (auth.max_streams_per_token); close one first"),
                head: head, cors: cors, context: context)
        }
        let streams = settings.configuration.streams
        let logger = server.logger.with(metadataKey: "hookstream.token", "\(grant.name)")
        let subscriber = StreamSubscriber(
            context: context, framing: framing, filter: request.filter, credential: credential, identity: grant.identity, resumingAfter: request.lastEventID,
            queue: streams.queue, logger: logger)
        let hub = server.hubs.hub(for: context.eventLoop)
        guard hub.add(subscriber) else {
            server.streamCounts.release(grant.identity)
            return answerStreamWhileStopping(settings: settings, cors: cors, context: context)
        }
        state = .streaming(subscriber)
        // What was pipelined behind the stream request is never handled: a stream's connection carries nothing more.
        queued.removeAll()
        resumeReading(context: context)
        // A stream waits on the server, never on the client: no timeout, and nothing to check for it.
        expiry = .distantFuture
        server.sweeper(for: context.eventLoop).remove(self)
        // Through the subscriber, behind any earlier answer on the connection that NIO may still hold.
        subscriber.writeHead(extraHeaders: cors)
        let start = request.lastEventID == nil ? hub.drainedThrough : nil  // a resuming stream keeps its own id
        if let start { subscriber.state.start(after: start) }
        subscriber.write(StreamFraming.greeting(retry: streams.retry, startingAfter: start), flush: true)
        // Not when the greeting's write has already failed and closed the stream: the timer would keep it until then.
        if let expiresAt = grant.expiresAt, !subscriber.isClosed {
            // At the token's expiry the stream says so and ends; the client comes back with a fresh token.
            subscriber.expiry = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(expiresAt - now)) {
                subscriber.logger.info("Stream ended: its token expired")
                subscriber.end(with: StreamFraming.expiredFrame)
            }
        }
        logger.debug(
            "Stream opened",
            metadata: [
                "hookstream.topics": "\(request.filter.patterns.map(\.description))",
                "hookstream.last_event_id": "\(request.lastEventID.map(String.init) ?? "none")",
                // For HTTP/2 the peer is the connection's: streams that share one show the same address and port.
                "hookstream.protocol": "\(framing.protocolName)", "hookstream.peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "unknown")",
            ])
        if let lastEventID = request.lastEventID {
            let server = self.server
            StreamReplay(
                subscriber: subscriber, store: server.broker.store, eventLoop: context.eventLoop, budget: server.replayBudget,
                limit: { server.settings.configuration.server.replayBytesLimit }, delivered: server.metrics.eventsDelivered, logger: logger)
                .start(after: lastEventID, jobs: server.jobs)
        }
    }

    // MARK: Connection events

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        switch state {
        case .streaming(let subscriber):
            subscriber.writabilityChanged(context.channel.isWritable)
        case .idle, .receiving, .authenticating, .discarding:
            // An HTTP/2 stream carries one request, and its connection's reading is swift-nio-http2's to bound.
            guard case .http1 = framing else { break }
            isClientBehind = !context.channel.isWritable
            if !isClientBehind { takeHeldBack(context: context) }
        case .closed:
            break
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .http1 = framing, let channelEvent = event as? ChannelEvent, case .inputClosed = channelEvent else {
            return context.fireUserInboundEventTriggered(event)
        }
        // A client may end its side once it has sent its requests (RFC 9112 9.6) and still read the answers: they go
        // out, then the connection closes. (Before, the whole connection closed at once and work already done, a
        // webhook published, went unanswered, for its sender to send again.)
        isInputClosed = true
        switch state {
        case .idle, .receiving:
            closeIfClientLeft(context: context)  // now, or once what is held back is handled
        case .authenticating:
            // No stream for a client that has left (its check's result is dropped); what NIO holds goes out first.
            queued.removeAll()
            closeBehindWrites(context: context)
        case .streaming:
            // An event stream ends when its client closes (a page left, a tab closed): the client gets no more.
            context.close(promise: nil)
        case .discarding, .closed:
            // Closing after an answer already, once it is written. (After the server ended its own side, NIO makes
            // the client's end a full close: no `inputClosed` comes then.)
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.sweeper(for: context.eventLoop).remove(self)
        releaseBody()
        if case .streaming(let subscriber) = state {
            subscriber.markClosed()
            server.hubs.hub(for: context.eventLoop).remove(subscriber)
            server.streamCounts.release(subscriber.identity)
            if subscriber.wasCut { server.metrics.subscribersCut.increment() }
            subscriber.logger.debug("Stream closed", metadata: ["hookstream.last_event_id": "\(subscriber.state.lastDeliveredID)"])
        }
        state = .closed
        queued.removeAll()
        dropSlots()
        waitingStream = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        server.sweeper(for: context.eventLoop).remove(self)
        releaseBody()
        self.context = nil
    }

    // MARK: Timeouts

    func expire() {
        guard let context else { return }
        let peer = context.channel.remoteAddress.map { "\($0)" } ?? "unknown"
        let limits = server.settings.configuration.server
        switch state {
        case .receiving(let head, _, _):
            // Part of a request came: say why it is refused, then close.
            server.logger.info(
                "Request timed out: it did not arrive whole within server.limits.request_timeout",
                metadata: ["hookstream.peer": "\(peer)", "timeout": "\(limits.requestTimeout.configText)"])
            releaseBody()
            state = .discarding
            let error = HTTPError(
                .requestTimeout, code: "request_timeout",
                "the request did not arrive whole within \(limits.requestTimeout.configText) (server.limits.request_timeout)")
            respond(HTTPResponse(error: error), keepAlive: false, headOnly: head.method == .HEAD, context: context)
            // Watched again: the answer sets when the connection closes at the latest.
            server.sweeper(for: context.eventLoop).add(self)
        case .idle where hasStarted, .discarding, .closed:
            // Idle past idle_timeout, or an answer that was to end the connection has not gone out by then.
            server.logger.debug("Idle connection closed (server.limits.idle_timeout)", metadata: ["hookstream.peer": "\(peer)"])
            state = .closed
            context.close(promise: nil)
        case .idle:
            // No request head within the time: a client that connects and says nothing (or trickles a head).
            server.logger.info(
                "Connection closed: no request within server.limits.request_timeout",
                metadata: ["hookstream.peer": "\(peer)", "timeout": "\(limits.requestTimeout.configText)"])
            state = .closed
            context.close(promise: nil)
        case .authenticating, .streaming:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A TLS client that ends its side without close_notify: swift-nio-ssl says so, then passes the end on as
        // `inputClosed`, which decides (half-closure is on for HTTP/1.1 connections; the bytes before were whole).
        if case .http1 = framing, let tlsError = error as? NIOSSLError, tlsError == .uncleanShutdown { return }
        guard error is HTTPParserError || error is ByteToMessageDecoderError else { return context.close(promise: nil) }
        switch state {
        case .idle, .receiving:
            // The answers owed for requests before the bad bytes go out first, then the 400, then the connection
            // closes. Requests read before the bad bytes but held back are not handled: nothing of them is accepted,
            // and the close tells the client they went unanswered (handled now, they would be published behind the
            // 400 and their answers dropped with the connection).
            refuseMalformed(context: context)
        case .authenticating:
            // The stream request before the bad bytes is answered first, once its token is checked: with its stream
            // (whose connection carries nothing more from the client), or with its refusal, then the 400.
            queued.removeAll()
            isMalformedBehindStreamRequest = true
        case .discarding, .closed:
            // After a first parse error NIO's decoder refuses every later read (`dataReceivedInErrorState`): the
            // connection already closes after its answers, which these must not drop.
            break
        case .streaming:
            context.close(promise: nil)
        }
    }

    /// Answers bytes that are no HTTP request with a 400, behind the answers owed, then closes the connection.
    private func refuseMalformed(context: ChannelHandlerContext) {
        releaseBody()
        queued.removeAll()
        waitingStream = nil
        state = .discarding
        respond(HTTPResponse(error: HTTPError(.badRequest, code: "bad_request", "malformed HTTP request")), keepAlive: false, context: context)
    }
}
