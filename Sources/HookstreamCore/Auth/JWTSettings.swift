public import JWTKit

/// `auth.jwt`: which JWTs are accepted and what they grant.
public struct JWTSettings: Sendable {
    public var keys: [JWTVerificationKey] = []
    /// Keys from a JWKS document (`jwks: { file: ... }`).
    public var jwks: JWKS?
    /// Checked against `iss` when set.
    public var issuer: String?
    /// Checked against `aud` (a string or a list) when set.
    public var audience: String?
    /// The claim with the token's own grants: `{"subscribe": [...], "publish": [...]}`.
    public var claim: String = "hookstream"
    /// Granted to every valid token; `{sub}` is its subject.
    public var subscribe: [GrantTemplate] = []
    public var publish: [GrantTemplate] = []
    /// Whether a token must carry `exp` (`require_exp`).
    public var requiresExpiration: Bool = true

    public init() {}
}
