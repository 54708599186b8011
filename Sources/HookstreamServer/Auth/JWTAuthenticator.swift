import Crypto
import Foundation
import HookstreamCore
import JWTKit

/// Verifies JWTs (jwt-kit) and turns them into grants: the signature against the configured keys, then `exp`,
/// `nbf`, `iss` and `aud`, then the grants of the configured claim plus those every valid token gets.
struct JWTAuthenticator: Sendable {
    /// One collection per configured key, each its only key: jwt-kit keeps one key without a key id, so in a single
    /// collection each replaced the one before, and only the last verified anything (a key rotation, the new key
    /// beside the old, logged out every user of the old one at its first step).
    private let configured: [JWTKeyCollection]
    /// The JWKS document's keys, reached only by a token whose `kid` names one of them.
    private let jwks: JWTKeyCollection?
    private let jwksKeyIDs: Set<String>
    private let settings: JWTSettings

    /// Builds the key collections from the configuration's keys.
    init(settings: JWTSettings) async throws {
        var configured: [JWTKeyCollection] = []
        for key in settings.keys {
            let keys = JWTKeyCollection()
            switch key {
            case .hmac(let secret, let digest): await keys.add(hmac: secret, digestAlgorithm: digest)
            case .es256(let key): await keys.add(ecdsa: key)
            case .es384(let key): await keys.add(ecdsa: key)
            case .es512(let key): await keys.add(ecdsa: key)
            case .rsa(let key, let digest): await keys.add(rsa: key, digestAlgorithm: digest)
            case .eddsa(let key): await keys.add(eddsa: key)
            }
            configured.append(keys)
        }
        if let document = settings.jwks {
            let keys = JWTKeyCollection()
            try await keys.add(jwks: document)
            self.jwks = keys
            self.jwksKeyIDs = Set(document.keys.compactMap { $0.keyIdentifier?.string })
        } else {
            self.jwks = nil
            self.jwksKeyIDs = []
        }
        self.configured = configured
        self.settings = settings
    }

    /// The token's claims, verified: by the JWKS key its `kid` names, if it names one; else by each configured key in
    /// turn. A JWKS key is never tried for a token that does not name it (jwt-kit fixes the algorithm of a JWKS key
    /// without one at the first token that reaches it, so trying every key would let any token fix them all).
    private func verify(_ token: String) async throws -> JWTClaims {
        if let jwks, let kid = JWTAuthenticator.keyID(of: token), jwksKeyIDs.contains(kid) {
            return try await jwks.verify(token, as: JWTClaims.self)
        }
        var failure: (any Error)?
        for keys in configured {
            do {
                return try await keys.verify(token, as: JWTClaims.self)
            } catch {
                failure = failure ?? error
            }
        }
        throw failure ?? JWTError.noKeyProvided
    }

    /// The `kid` of a token's header, if it has one (the header is base64url JSON).
    static func keyID(of token: String) -> String? {
        guard let header = token.split(separator: ".", maxSplits: 1).first else { return nil }
        var text = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let bytes = Data(base64Encoded: text), let header = try? JSONParser.parse(bytes) else { return nil }
        return header["kid"]?.stringValue
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
            claims = try await verify(token)
        } catch {
            throw AuthFailure("the JWT was not accepted: \(JWTAuthenticator.describe(error))")
        }
        if !claims.mistyped.isEmpty {
            throw AuthFailure(
                "the JWT's \(claims.mistyped.joined(separator: ", ")) claim has the wrong type (sub and iss are strings, exp and nbf numbers, aud a string or a list of strings)")
        }
        if let subject = claims.subject, subject.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw AuthFailure("the JWT's sub has control characters")
        }
        // Swift compares strings by canonical equivalence: a subject spelled another way (the Kelvin sign for `K`,
        // `e` and a combining accent for `é`) would share the grants (`users/{sub}/**`) and the counts of the subject
        // it is equivalent to, though the backend that minted it may hold them for two users. One spelling is taken.
        if let subject = claims.subject, !Topic.isComposed(subject) {
            throw AuthFailure("the JWT's sub is not in Unicode's composed form (NFC): subjects are compared in it, so only that spelling is accepted")
        }
        let nowSeconds = Double(now) / 1000
        let leeway = Double(settings.leeway.nanoseconds) / 1e9
        // The end of the token's life on this host's clock: its exp, plus what the clocks may differ by.
        let expiration = claims.expiration.map { $0 + leeway }
        if let expiration {
            guard nowSeconds < expiration else { throw AuthFailure("the JWT has expired", isExpired: true) }
        } else if settings.requiresExpiration {
            throw AuthFailure("the JWT has no exp claim (tokens must expire)")
        }
        if let notBefore = claims.notBefore, nowSeconds + leeway < notBefore { throw AuthFailure("the JWT is not valid yet (nbf)") }
        if let issuer = settings.issuer, claims.issuer != issuer { throw AuthFailure("the JWT's issuer (iss) is not the expected one") }
        if let audience = settings.audience {
            guard let audiences = claims.audience else { throw AuthFailure("the JWT names no audience (aud), and this server requires one (auth.jwt.audience)") }
            guard audiences.contains(audience) else { throw AuthFailure("the JWT's audience (aud) does not include the expected one") }
        } else if claims.audience?.isEmpty == false {
            // RFC 7519 4.1.3: a token that names its audience is for those only. An issuer that mints tokens for
            // several services with one key would otherwise have each service's tokens taken here too.
            throw AuthFailure("the JWT names an audience (aud) and this server has none (auth.jwt.audience): set it to the audience its tokens carry")
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
            // Limits count per subject; a token without one counts on its own (tokens without a subject must not
            // share one count), by a digest of what its signature signs (a signature has more than one spelling that
            // verifies: its holder could make several tokens of one) and not the token (the identity may be stored,
            // as a publish's delivery key).
            identity: subject.isEmpty
                ? "jwt:\(claims.issuer ?? "")#\(JWTAuthenticator.signedPartDigest(of: token))"
                : "jwt:\(claims.issuer ?? ""):\(subject)",
            subscribe: patterns(settings.subscribe, claim?.subscribe),
            publish: patterns(settings.publish, claim?.publish),
            // A signed `exp` centuries away is as good as none, and must not overflow the milliseconds.
            expiresAt: expiration.map { Int64(min($0, JWTAuthenticator.latestExpiration) * 1000) })
    }

    /// A hex digest of a token's header and payload (all before its last `.`): what its signature signs.
    static func signedPartDigest(of token: String) -> String {
        let signed = token.utf8.lastIndex(of: UInt8(ascii: ".")).map { token.utf8[..<$0] } ?? token.utf8[...]
        return BinaryText.hexString(SHA256.hash(data: Array(signed)).prefix(16))
    }

    /// The latest expiry a grant keeps, in seconds since the epoch (the year 5138): later ones are cut to it.
    static let latestExpiration: Double = 1e11

    /// jwt-kit's reason in words a user can act on; never the token.
    private static func describe(_ error: any Error) -> String {
        guard let error = error as? JWTError else { return "it is not a JWT (three base64url parts separated by dots)" }
        switch error.errorType {
        case .signatureVerificationFailed: return "its signature does not verify with any configured key"
        case .malformedToken: return "it is not a JWT (three base64url parts separated by dots)"
        case .unknownKID, .noKeyProvided: return "no configured key is for it (a key of auth.jwt.jwks is tried only for a token whose kid names it)"
        case .missingKIDHeader: return "it has no kid, and the keys need one"
        case .unsupportedAlgorithm, .signingAlgorithmFailure: return "its algorithm (alg) is not one of the configured keys'"
        default: return error.reason ?? "\(error.errorType)"
        }
    }
}
