/// Checks a webhook's signature against the source's secrets (any one of them, so a secret can be rotated
/// without downtime), in constant time, and the signed timestamp against the scheme's tolerance.
///
/// ```swift
/// let verifier = WebhookVerifier(scheme: .github, secrets: [Array("It's a Secret to Everybody".utf8)])
/// try body.withUnsafeBytes { body in
///     try verifier.verify(header: { request.headers[$0] }, body: body, now: WallClock.milliseconds())
/// }
/// ```
public struct WebhookVerifier: Sendable, Hashable {
    public let scheme: SignatureScheme
    /// The keys: the secrets' bytes (for Standard Webhooks, the base64-decoded `whsec_` secrets).
    let keys: [[UInt8]]

    /// - Parameters:
    ///   - scheme: the provider's signing scheme.
    ///   - secrets: one or more keys; a signature made with any of them is accepted.
    public init(scheme: SignatureScheme, secrets: [[UInt8]]) {
        precondition(!secrets.isEmpty, "a verifier needs at least one secret")
        self.scheme = scheme
        self.keys = secrets
    }

    /// Checks the request.
    /// - Parameters:
    ///   - header: a request header's value by its lower-case name (the first one, when repeated).
    ///   - body: the raw body, as received.
    ///   - now: the current time in milliseconds since the epoch, for the schemes that sign a timestamp.
    /// - Throws: ``SignatureFailure`` saying what is missing, malformed, stale or wrong.
    public func verify(header: (String) -> String?, body: UnsafeRawBufferPointer, now: Int64) throws(SignatureFailure) {
        switch scheme {
        case .github:
            let value = try required(header, "x-hub-signature-256", display: "X-Hub-Signature-256")
            guard value.hasPrefix("sha256="), let presented = BinaryText.hex(value.dropFirst(7)) else {
                throw SignatureFailure("X-Hub-Signature-256 must be 'sha256=' and a hex HMAC")
            }
            try expect(any: [presented]) { key in HMACAlgorithm.sha256.authenticationCode(key: key, [body]) }

        case .gitlab:
            let presented = try required(header, "x-gitlab-token", display: "X-Gitlab-Token")
            guard keys.contains(where: { ConstantTime.equals($0, Array(presented.utf8)) }) else {
                throw SignatureFailure("X-Gitlab-Token does not match the source's secret")
            }

        case .stripe(let tolerance):
            let value = try required(header, "stripe-signature", display: "Stripe-Signature")
            var timestamp: Substring?
            var signatures: [[UInt8]] = []
            for item in value.split(separator: ",") {
                let pair = item.split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { continue }
                switch pair[0].trimmingSpaces() {
                case "t": timestamp = pair[1].trimmingSpaces()
                case "v1": if let bytes = BinaryText.hex(pair[1].trimmingSpaces()) { signatures.append(bytes) }
                default: break  // v0 (test mode's scheme) and future schemes are not accepted
                }
            }
            guard let timestamp else { throw SignatureFailure("Stripe-Signature has no t= timestamp") }
            guard !signatures.isEmpty else { throw SignatureFailure("Stripe-Signature has no v1= signature") }
            try checkTimestamp(timestamp, "the Stripe-Signature timestamp", tolerance: tolerance, now: now)
            try expect(any: signatures) { key in
                Self.withBytes("\(timestamp).") { prefix in HMACAlgorithm.sha256.authenticationCode(key: key, [prefix, body]) }
            }

        case .slack(let tolerance):
            let value = try required(header, "x-slack-signature", display: "X-Slack-Signature")
            let timestamp = try required(header, "x-slack-request-timestamp", display: "X-Slack-Request-Timestamp")
            guard value.hasPrefix("v0="), let presented = BinaryText.hex(value.dropFirst(3)) else {
                throw SignatureFailure("X-Slack-Signature must be 'v0=' and a hex HMAC")
            }
            try checkTimestamp(Substring(timestamp), "X-Slack-Request-Timestamp", tolerance: tolerance, now: now)
            try expect(any: [presented]) { key in
                Self.withBytes("v0:\(timestamp):") { prefix in HMACAlgorithm.sha256.authenticationCode(key: key, [prefix, body]) }
            }

        case .standardWebhooks(let tolerance):
            let id = try required(header, "webhook-id", display: "webhook-id")
            let timestamp = try required(header, "webhook-timestamp", display: "webhook-timestamp")
            let value = try required(header, "webhook-signature", display: "webhook-signature")
            var signatures: [[UInt8]] = []
            for item in value.split(separator: " ") {
                let pair = item.split(separator: ",", maxSplits: 1)
                guard pair.count == 2, pair[0] == "v1", let bytes = BinaryText.base64(pair[1]) else { continue }
                signatures.append(bytes)
            }
            guard !signatures.isEmpty else { throw SignatureFailure("webhook-signature has no 'v1,<base64>' signature") }
            try checkTimestamp(Substring(timestamp), "webhook-timestamp", tolerance: tolerance, now: now)
            try expect(any: signatures) { key in
                Self.withBytes("\(id).\(timestamp).") { prefix in HMACAlgorithm.sha256.authenticationCode(key: key, [prefix, body]) }
            }

        case .hmac(let settings):
            let value = try required(header, settings.header, display: settings.header)
            guard value.hasPrefix(settings.prefix) else {
                throw SignatureFailure("\(settings.header) must start with '\(settings.prefix)'")
            }
            let text = value.dropFirst(settings.prefix.count).trimmingSpaces()
            let decoded = settings.encoding == .hex ? BinaryText.hex(text) : BinaryText.base64(text)
            guard let presented = decoded else {
                throw SignatureFailure("\(settings.header) must carry a \(settings.encoding.rawValue) \(settings.algorithm.rawValue) HMAC")
            }
            try expect(any: [presented]) { key in settings.algorithm.authenticationCode(key: key, [body]) }
        }
    }

    private func required(_ header: (String) -> String?, _ name: String, display: String) throws(SignatureFailure) -> String {
        guard let value = header(name), !value.isEmpty else { throw SignatureFailure("the \(display) header is missing") }
        return value
    }

    /// Accepts when some presented signature equals the code computed with some key; every pair is compared in full.
    private func expect(any presented: [[UInt8]], code: ([UInt8]) -> [UInt8]) throws(SignatureFailure) {
        var matched = false
        for key in keys {
            let expected = code(key)
            for signature in presented where ConstantTime.equals(expected, signature) { matched = true }
        }
        if !matched { throw SignatureFailure("the signature does not match the body and the source's secret") }
    }

    private func checkTimestamp(_ text: Substring, _ what: String, tolerance: Duration, now: Int64) throws(SignatureFailure) {
        // Bounded, so that the difference below cannot overflow whatever a sender puts there.
        guard let seconds = Int64(text.trimmingSpaces()), (0..<100_000_000_000).contains(seconds) else {
            throw SignatureFailure("\(what) is not a Unix time in seconds")
        }
        let toleranceSeconds = tolerance.components.seconds
        let skew = now / 1000 - seconds
        guard abs(skew) <= toleranceSeconds else {
            throw SignatureFailure(
                "\(what) is \(abs(skew)) s \(skew > 0 ? "old" : "in the future"), outside the tolerance of \(toleranceSeconds) s (a replay, or clocks that differ)")
        }
    }

    private static func withBytes<T>(_ text: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        var text = text
        return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}

extension WebhookVerifier: CustomStringConvertible {
    /// The scheme and how many keys, never the keys (a value interpolated into a log line).
    public var description: String { "WebhookVerifier(\(scheme), \(keys.count) key(s): <hidden>)" }
}
