public import JWTKit

/// `auth.jwt`: which JWTs are accepted and what they grant.
public struct JWTSettings: Sendable {
    public var keys: [JWTVerificationKey] = []
    /// Keys from a JWKS document (`jwks: { file: ... }`).
    public var jwks: JWKS?
    /// Checked against `iss` when set.
    public var issuer: String?
    /// When set, `aud` (a string or a list) must hold it; when not, a token with an `aud` is refused (RFC 7519 4.1.3).
    public var audience: String?
    /// The claim with the token's own grants: `{"subscribe": [...], "publish": [...]}`.
    public var claim: String = "hookstream"
    /// Granted to every valid token; `{sub}` is its subject.
    public var subscribe: [GrantTemplate] = []
    public var publish: [GrantTemplate] = []
    /// Whether a token must carry `exp` (`require_exp`).
    public var requiresExpiration: Bool = true
    /// How far the clocks of the token's issuer and of this host may differ (`leeway`): a token is accepted from
    /// `nbf - leeway` to `exp + leeway`, and its streams end at `exp + leeway`.
    public var leeway: Duration = .zero

    /// The most `leeway` may be: more would keep expired tokens good for longer than clocks ever differ.
    public static let maximumLeeway: Duration = .seconds(300)

    public init() {}
}
