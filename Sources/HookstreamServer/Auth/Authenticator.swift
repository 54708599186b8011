import HookstreamCore

/// Turns a presented credential into a ``Grant``: a static token from `auth.tokens` (compared in constant time,
/// at once), or a JWT checked against `auth.jwt` (asynchronously: jwt-kit's keys live in an actor).
struct Authenticator: Sendable {
    private let tokens: [AccessToken]
    private let jwt: JWTAuthenticator?

    init(tokens: [AccessToken], jwt: JWTAuthenticator? = nil) {
        self.tokens = tokens
        self.jwt = jwt
    }

    /// The authenticator for `configuration` (builds its JWT keys).
    static func make(_ configuration: Configuration) async throws -> Authenticator {
        var jwt: JWTAuthenticator?
        if let settings = configuration.auth.jwt { jwt = try await JWTAuthenticator(settings: settings) }
        return Authenticator(tokens: configuration.tokens, jwt: jwt)
    }

    /// The static token whose secret is `secret`, if any.
    func token(forSecret secret: String) -> AccessToken? {
        let presented = Array(secret.utf8)
        var found: AccessToken?
        // Compare against every token, not stopping at a match, so the time does not depend on which one it is.
        for token in tokens where ConstantTime.equals(token.secret.utf8, presented) {
            found = token
        }
        return found
    }

    /// The grant of a static token, answered at once; `nil` when `secret` is none.
    func staticGrant(for secret: String) -> Grant? {
        token(forSecret: secret).map { token in
            Grant(name: token.name, identity: "token:\(token.name)", subscribe: token.subscribe, publish: token.publish, expiresAt: nil)
        }
    }

    /// Whether `secret` must go through the asynchronous JWT check (it is no static token and looks like a JWT).
    func needsJWTCheck(_ secret: String) -> Bool {
        jwt != nil && staticGrant(for: secret) == nil && JWTAuthenticator.looksLikeJWT(secret)
    }

    /// The grant `secret` carries at `now` (ms since the epoch).
    func grant(for secret: String, now: Int64) async throws(AuthFailure) -> Grant {
        if let grant = staticGrant(for: secret) { return grant }
        guard let jwt, JWTAuthenticator.looksLikeJWT(secret) else { throw AuthFailure("the token is not valid") }
        return try await jwt.grant(for: secret, now: now)
    }

    /// The grant `secret` carries at `now`, as a result (for handing from a task back to an event loop).
    func grantResult(for secret: String, now: Int64) async -> Result<Grant, AuthFailure> {
        do {
            return .success(try await grant(for: secret, now: now))
        } catch {
            return .failure(error)
        }
    }

    /// Whether `secret` still grants every pattern of `filter` (an open stream, after a reload).
    func grants(secret: String, filter: TopicFilter, now: Int64) async -> Bool {
        guard let grant = try? await grant(for: secret, now: now) else { return false }
        return grant.maySubscribe(to: filter)
    }
}
