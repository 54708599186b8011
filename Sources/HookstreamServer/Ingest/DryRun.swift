public import HookstreamCore
import NIOCore
import NIOHTTP1

/// Routes a message exactly as the daemon would, without storing or publishing anything: the engine behind
/// `hookstream route`, so a rule can be tried before it is deployed.
public enum DryRun {
    /// A message to try.
    public struct Request: Sendable {
        public var source: String
        public var method: String = "POST"
        /// Below `/hooks/<source>/`.
        public var subPath: String = ""
        public var headers: [(name: String, value: String)] = []
        public var query: [(name: String, value: String)] = []
        public var body: [UInt8] = []
        /// Whether to check the signature as the daemon does (for sources with `verify:`).
        public var verify: Bool = false
        /// The Unix socket sender's credentials (`peer.uid`, `peer.gid`, `peer.pid`), which the daemon takes from the
        /// kernel.
        public var peer: (uid: UInt32, gid: UInt32, pid: Int32)?
        /// The sender's supplementary groups, which `allow_gids` also admits.
        public var peerGroups: [UInt32] = []

        public init(source: String) { self.source = source }
    }

    /// What the daemon would do with it.
    public struct Result: Sendable {
        /// The source's kind.
        public var kind: Configuration.Source.Kind
        /// `nil` when not checked; otherwise `nil` failure means the signature was accepted.
        public var signature: SignatureCheck?
        /// The request itself was refused before routing (a malformed body, a bad signature): status and message.
        public var refused: (status: Int, message: String)?
        public var report: RouteReport
    }

    /// The outcome of a signature check.
    public struct SignatureCheck: Sendable {
        public var accepted: Bool
        public var reason: String?
    }

    /// Why a dry run could not start.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Runs `request` against `configuration`.
    /// - Throws: ``Failure`` for a source that the configuration does not declare.
    public static func run(_ request: Request, configuration: Configuration, now: Int64 = WallClock.milliseconds()) throws(Failure) -> Result {
        guard let source = configuration.sources[request.source] else {
            let known = configuration.sources.keys.sorted().joined(separator: ", ")
            throw Failure(description: "no source named '\(request.source)' in the config (declared: \(known.isEmpty ? "none" : known))")
        }
        let engine = RuleEngine(rules: configuration.rules, regexSteps: configuration.server.regexSteps)
        var result = Result(kind: source.kind, signature: nil, refused: nil, report: RouteReport())
        let message: JSONValue
        switch source.kind {
        case .unixSocket:
            // What the daemon refuses before the rules: a sender the source does not allow, a line past the bound.
            let peer = request.peer.map { UnixSocketPeer(pid: $0.pid, uid: $0.uid, gid: $0.gid, groups: request.peerGroups) }
            if let peer, let forbidden = UnixSocketIngest.forbidden(peer, by: source) {
                result.refused = (403, forbidden)
                return result
            }
            var line = request.body[...]
            if line.last == UInt8(ascii: "\n") { line = line.dropLast() }  // a body file's last line break is not the line's
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if let lineLimit = configuration.server.unixSocket?.lineLimit, line.count > lineLimit {
                result.refused = (400, UnixSocketIngest.lineTooLong(limit: lineLimit))
                return result
            }
            do {
                message = try UnixSocketMessage.make(line: request.body, source: source.name, peer: peer)
            } catch {
                result.refused = (400, error.message)
                return result
            }
        case .webhook:
            guard Router.webhookMethods.contains(HTTPMethod(rawValue: request.method)) else {
                result.refused = (405, "use \(Router.webhookMethods.map(\.rawValue).joined(separator: ", ")) for a webhook")
                return result
            }
            var headers = HTTPHeaders()
            for (name, value) in request.headers { headers.add(name: name, value: value) }
            // What the daemon refuses before the signature and the rules: a body past the bound, a compressed one.
            var sent = headers
            sent.replaceOrAdd(name: "Content-Length", value: String(request.body.count))
            if let refusal = BodyRefusal.of(sent, bodyLimit: configuration.server.bodyLimit) {
                result.refused = (Int(refusal.error.status.code), refusal.error.message)
                return result
            }
            if !request.body.isEmpty, !headers.contains(name: "content-type") { headers.add(name: "Content-Type", value: "application/json") }
            let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: "/hooks/\(source.name)", headers: headers)
            var target = RequestTarget("/")
            target.query = request.query
            let body = ByteBuffer(bytes: request.body)
            if request.verify, let verifier = source.verifier {
                do throws(SignatureFailure) {
                    try body.withUnsafeReadableBytes { (bytes) throws(SignatureFailure) in
                        try verifier.verify(header: { headers.first(name: $0) }, body: bytes, now: now)
                    }
                    result.signature = SignatureCheck(accepted: true, reason: nil)
                } catch {
                    result.signature = SignatureCheck(accepted: false, reason: error.message)
                    result.refused = (401, "the webhook's signature was not accepted: \(error.message)")
                    return result
                }
            }
            do {
                message = try WebhookMessage.make(
                    source: source.name, subPath: request.subPath, head: head, target: target, body: body, roots: engine.roots(for: source.name),
                    signatureHeader: source.verifier?.scheme.genericHMACHeader)
            } catch {
                result.refused = (Int(error.status.code), error.message)
                return result
            }
        }
        result.report = engine.explain(source: source.name, message: message)
        return result
    }
}
