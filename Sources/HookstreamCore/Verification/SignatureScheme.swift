/// How a webhook source proves its messages come from the provider: a provider's preset, or a generic HMAC.
public enum SignatureScheme: Sendable, Hashable {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body.
    case github
    /// GitLab: `X-Gitlab-Token` is the secret itself.
    case gitlab
    /// Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=...]`, HMAC-SHA256 of `"{t}.{body}"`.
    case stripe(tolerance: Duration)
    /// Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 of `"v0:{X-Slack-Request-Timestamp}:{body}"`.
    case slack(tolerance: Duration)
    /// Standard Webhooks: `webhook-signature: v1,<base64> [v1,<base64> ...]`, HMAC-SHA256 of
    /// `"{webhook-id}.{webhook-timestamp}.{body}"` with the base64-decoded `whsec_` secret.
    case standardWebhooks(tolerance: Duration)
    /// Any provider that signs the raw body with an HMAC in one header.
    case hmac(GenericHMAC)

    /// The generic HMAC scheme's settings.
    public struct GenericHMAC: Sendable, Hashable {
        /// The header carrying the signature (lower-case).
        public var header: String
        public var algorithm: HMACAlgorithm
        public var encoding: Encoding
        /// Text before the signature in the header, like `sha256=`.
        public var prefix: String

        public enum Encoding: String, Sendable, Hashable, CaseIterable {
            case hex
            case base64
        }

        public init(header: String, algorithm: HMACAlgorithm = .sha256, encoding: Encoding = .hex, prefix: String = "") {
            self.header = header.lowercased()
            self.algorithm = algorithm
            self.encoding = encoding
            self.prefix = prefix
        }
    }

    /// The preset names the config accepts under `verify:`.
    public static let presetNames = ["github", "gitlab", "stripe", "slack", "standard-webhooks", "hmac"]

    /// Tolerance for the timestamp of the schemes that sign one, unless the config says otherwise.
    public static let defaultTolerance: Duration = .seconds(300)

    /// Where the preset finds a delivery's id, for deduplicating redeliveries; `nil` when the provider sends none.
    public var deliveryID: DeliveryIDLocation? {
        switch self {
        case .github: .header("x-github-delivery")
        // GitLab (17.4 on) keeps Idempotency-Key across retries and resends. Not X-Gitlab-Event-UUID: a resend gets a
        // new one, and the hooks a hook's own request sets off share its sender's.
        case .gitlab: .header("idempotency-key")
        case .standardWebhooks: .header("webhook-id")
        // Stripe and Slack name the event in the body; a redelivery carries the same one.
        case .stripe: .path(try! ValuePath("body.id"))
        case .slack: .path(try! ValuePath("body.event_id"))
        case .hmac: nil
        }
    }

    /// The header a `hmac` source reads its signature from (the presets' headers have names known in advance).
    public var genericHMACHeader: String? {
        if case .hmac(let scheme) = self { scheme.header } else { nil }
    }
}
