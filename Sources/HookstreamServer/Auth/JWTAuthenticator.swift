import HookstreamCore
import JWTKit

/// Verifies JWTs (jwt-kit) and turns them into grants: the signature against the configured keys, then `exp`,
/// `nbf`, `iss` and `aud`, then the grants of the configured claim plus those every valid token gets.
struct JWTAuthenticator: Sendable {
    private let keys: JWTKeyCollection
    private let settings: JWTSettings

    /// Builds the key collection from the configuration's keys.
    ///
    /// Each configured key gets a key id of its own (`hookstream.keys[N]`): jwt-kit keeps one key without an id,
    /// so each replaced the one before and only the last verified anything, which broke a key rotation (the new key
    /// beside the old) at its first step. A token is checked with the key its `kid` names, else the first, then
    /// with each of the others (``grant(for:now:)``).
    init(settings: JWTSettings) async throws {
        let keys = JWTKeyCollection()
        for (index, key) in settings.keys.enumerated() {
            let kid = JWKIdentifier(string: "hookstream.keys[\(index)]")
            switch key {
            case .hmac(let secret, let digest): await keys.add(hmac: secret, digestAlgorithm: digest, kid: kid)
            case .es256(let key): await keys.add(ecdsa: key, kid: kid)
            case .es384(let key): await keys.add(ecdsa: key, kid: kid)
            case .es512(let key): await keys.add(ecdsa: key, kid: kid)
            case .rsa(let key, let digest): await keys.add(rsa: key, digestAlgorithm: digest, kid: kid)
            case .eddsa(let key): await keys.add(eddsa: key, kid: kid)
            }
        }
        if let jwks = settings.jwks { try await keys.add(jwks: jwks) }
        self.keys = keys
        self.settings = settings
    }

    /// Whether `text` has the shape of a JWT (three base64url parts), so that static tokens are never sent to jwt-kit.
    static func looksLikeJWT(_ text: String) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0].count > 0 && parts[1].count > 0
    }

    /// The grant `token` carries at `now` (ms since the epoch).
    func grant(for token: String, now: Int64) async throws(AuthFailure) -> Grant {
        let claims: JWTClaims
        do {
            claims = try await keys.verify(token, as: JWTClaims.self, iteratingKeys: true)
        } catch {
            throw AuthFailure("the JWT was not accepted: \(JWTAuthenticator.describe(error))")
        }
        let nowSeconds = Double(now) / 1000
        if let expiration = claims.expiration {
            guard nowSeconds < expiration else { throw AuthFailure("the JWT has expired", isExpired: true) }
        } else if settings.requiresExpiration {
            throw AuthFailure("the JWT has no exp claim (tokens must expire)")
        }
        if let notBefore = claims.notBefore, nowSeconds < notBefore { throw AuthFailure("the JWT is not valid yet (nbf)") }
        if let issuer = settings.issuer, claims.issuer != issuer { throw AuthFailure("the JWT's issuer (iss) is not the expected one") }
        if let audience = settings.audience, !(claims.audience ?? []).contains(audience) {
            throw AuthFailure("the JWT's audience (aud) does not include the expected one")
        }
        let claim = claims.grants[settings.claim]
        func patterns(_ templates: [GrantTemplate], _ claimed: [String]?) -> TopicFilter {
            var patterns = templates.compactMap { $0.pattern(subject: claims.subject) }
            patterns += (claimed ?? []).compactMap { try? TopicPattern($0) }
            return TopicFilter(patterns)
        }
        let subject = claims.subject ?? ""
        return Grant(
            name: "jwt:\(subject.isEmpty ? "(no subject)" : String(subject.prefix(64)))",
            identity: "jwt:\(claims.issuer ?? ""):\(subject)",
            subscribe: patterns(settings.subscribe, claim?.subscribe),
            publish: patterns(settings.publish, claim?.publish),
            // A signed `exp` centuries away is as good as none, and must not overflow the milliseconds.
            expiresAt: claims.expiration.map { Int64(min($0, JWTAuthenticator.latestExpiration) * 1000) })
    }

    /// The latest expiry a grant keeps, in seconds since the epoch (the year 5138): later ones are cut to it.
    static let latestExpiration: Double = 1e11

    /// jwt-kit's reason, without the token.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? JWTError { return error.reason ?? "\(error.errorType)" }
        return "malformed token"
    }
}
