import Crypto
import Foundation
import HookstreamCore
import JWTKit
import Testing

@testable import HookstreamServer

/// JWTs signed by jwt-kit (HS256 and ES256 keys) checked as the daemon does: signature, exp, nbf, iss, aud, and
/// the grants they carry.
@Suite struct JWTAuthenticatorTests {
    static let secret = "an-hs256-test-secret-that-is-32-bytes-long"
    static let now: Int64 = 1_800_000_000_000

    struct Claims: JWTPayload {
        var sub: String?
        var exp: Double?
        var nbf: Double?
        var iss: String?
        var aud: [String]?
        var hookstream: Grants?
        struct Grants: Codable { var subscribe: [String]?; var publish: [String]? }
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    private func settings(_ edit: (inout JWTSettings) -> Void = { _ in }) throws -> JWTSettings {
        var settings = JWTSettings()
        settings.keys = [try JWTVerificationKey(algorithm: "HS256", material: Self.secret)]
        settings.subscribe = [try GrantTemplate("users/{sub}/**")]
        edit(&settings)
        return settings
    }

    private func sign(_ claims: Claims, secret: String = JWTAuthenticatorTests.secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }

    private func grant(_ token: String, _ settings: JWTSettings) async throws(AuthFailure) -> Grant {
        let authenticator = try! await JWTAuthenticator(settings: settings)
        return try await authenticator.grant(for: token, now: Self.now)
    }

    private let later = Double(now / 1000 + 3600)

    @Test func aValidTokenGrantsItsSubjectsTopicsAndItsClaim() async throws {
        let token = try await sign(Claims(sub: "42", exp: later, hookstream: .init(subscribe: ["teams/7/**"], publish: ["users/42/inbox"])))
        let grant = try await grant(token, try settings())
        #expect(grant.name == "jwt:42")
        #expect(grant.expiresAt == Int64(later * 1000))
        #expect(grant.subscribe.covers(try TopicPattern("users/42/alerts")))
        #expect(grant.subscribe.covers(try TopicPattern("teams/7/x")))
        #expect(!grant.subscribe.covers(try TopicPattern("users/43/alerts")))
        #expect(grant.publish.matches("users/42/inbox"))
    }

    /// Bad input: a signed token whose `exp` is centuries away (1e16 s would overflow the grant's milliseconds). It is
    /// accepted, and its grant expires at the latest time hookstream keeps.
    @Test func anExpiryCenturiesAwayIsCutNotACrash() async throws {
        let token = try await sign(Claims(sub: "42", exp: 1e16))
        let grant = try await grant(token, try settings())
        #expect(grant.expiresAt == Int64(JWTAuthenticator.latestExpiration * 1000))
    }

    @Test func refusals() async throws {
        let plain = try settings()
        func reason(_ claims: Claims, _ settings: JWTSettings, secret: String = JWTAuthenticatorTests.secret) async throws -> String? {
            let token = try await sign(claims, secret: secret)
            do {
                _ = try await grant(token, settings)
                return nil
            } catch {
                return error.reason
            }
        }
        // Bad input: an expired token, one without exp, one not valid yet, a wrong issuer and audience, a wrong key.
        #expect(try await reason(Claims(sub: "42", exp: Double(Self.now / 1000 - 1)), plain) == "the JWT has expired")
        #expect(try await reason(Claims(sub: "42"), plain) == "the JWT has no exp claim (tokens must expire)")
        #expect(try await reason(Claims(sub: "42"), try settings { $0.requiresExpiration = false }) == nil)
        #expect(try await reason(Claims(sub: "42", exp: later, nbf: later - 10), plain) == "the JWT is not valid yet (nbf)")
        let strict = try settings {
            $0.issuer = "https://app.example"
            $0.audience = "hookstream"
        }
        #expect(try await reason(Claims(sub: "42", exp: later, iss: "https://app.example", aud: ["other", "hookstream"]), strict) == nil)
        #expect(try await reason(Claims(sub: "42", exp: later, iss: "https://evil.example", aud: ["hookstream"]), strict)?.contains("issuer") == true)
        #expect(try await reason(Claims(sub: "42", exp: later, iss: "https://app.example", aud: ["other"]), strict)?.contains("audience") == true)
        #expect(try await reason(Claims(sub: "42", exp: later, iss: "https://app.example"), strict)?.contains("audience") == true)
        // Bad input: a token minted for another service (it names its audience) where no audience is configured.
        #expect(
            try await reason(Claims(sub: "42", exp: later, aud: ["billing"]), plain)
                == "the JWT names an audience (aud) and this server has none (auth.jwt.audience): set it to the audience its tokens carry")
        #expect(try await reason(Claims(sub: "42", exp: later, aud: []), plain) == nil, "an empty list names no audience")
        // In words, not jwt-kit's case names (signatureVerificationFailed, malformedToken).
        let wrongKey = try await reason(Claims(sub: "42", exp: later), plain, secret: "another-secret-that-is-32-bytes-long!!")
        #expect(wrongKey == "the JWT was not accepted: its signature does not verify with any configured key", "\(wrongKey ?? "accepted")")
        do {
            _ = try await grant("not.a.jwt", plain)
            Issue.record("a malformed token was accepted")
        } catch {
            #expect(!error.reason.contains("not.a.jwt"), "the token is never echoed")
            #expect(error.reason == "the JWT was not accepted: it is not a JWT (three base64url parts separated by dots)", "\(error.reason)")
        }
    }

    /// A payload of any JSON values, for claims of the wrong type.
    struct RawClaims: JWTPayload {
        enum Value: Encodable {
            case string(String), number(Double), null
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                switch self {
                case .string(let text): try container.encode(text)
                case .number(let number): try container.encode(number)
                case .null: try container.encodeNil()
                }
            }
        }
        var fields: [String: Value]
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        init(_ fields: [String: Value]) { self.fields = fields }
        init(from decoder: any Decoder) throws { fields = [:] }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            for (key, value) in fields { try container.encode(value, forKey: Key(stringValue: key)) }
        }
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// Bad input: registered claims of the wrong type were read as absent: a string `exp` never expired (with
    /// `require_exp: false`), a string `nbf` was no bound, and every numeric `sub` shared one stream count. They are
    /// refused; a `null` claim counts as absent. So is a subject with control characters (it went into log lines).
    @Test func claimsOfTheWrongTypeAndSubjectsWithControlCharactersAreRefused() async throws {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Self.secret), digestAlgorithm: .sha256)
        let lenient = try settings { $0.requiresExpiration = false }
        func reason(_ fields: [String: RawClaims.Value]) async throws -> String? {
            let token = try await keys.sign(RawClaims(fields))
            do {
                _ = try await grant(token, lenient)
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(try await reason(["sub": .string("42"), "exp": .string("1")])?.contains("the JWT's exp claim has the wrong type") == true)
        #expect(try await reason(["sub": .number(42), "exp": .number(later)])?.contains("the JWT's sub claim has the wrong type") == true)
        #expect(try await reason(["sub": .string("42"), "nbf": .string("99999999999")])?.contains("nbf") == true)
        #expect(try await reason(["sub": .string("42"), "iss": .number(1)])?.contains("iss") == true)
        #expect(try await reason(["sub": .string("42"), "aud": .number(1)])?.contains("aud") == true)
        #expect(try await reason(["sub": .string("42"), "exp": .null, "nbf": .null]) == nil, "null is absent")
        #expect(try await reason(["sub": .string("x\n2026-11-30T10:00:00+0000 critical hookstream: forged")]) == "the JWT's sub has control characters")
    }

    /// Bad input: subjects canonically equivalent to another user's but spelled otherwise, the Kelvin sign for `K`,
    /// `e` and a combining accent for `é`, a CJK compatibility ideograph for its unified form. Swift's `==` takes
    /// each for the other, so `users/{sub}/**` granted the other user's topics and their stream count was shared.
    /// They are refused; the composed spellings are accepted.
    @Test func aSubjectSpelledOtherThanInItsComposedFormIsRefused() async throws {
        for subject in ["\u{212A}", "Jose\u{301}", "\u{F91D}", "a\u{301}\u{323}"] {
            let token = try await sign(Claims(sub: subject, exp: later))
            await #expect(throws: AuthFailure.self, "\(subject.unicodeScalars.map { String($0.value, radix: 16) })") {
                do {
                    _ = try await grant(token, try settings())
                } catch let failure as AuthFailure {
                    #expect(failure.reason.contains("not in Unicode's composed form (NFC)"), "\(failure.reason)")
                    throw failure
                }
            }
        }
        for subject in ["K", "Jos\u{E9}", "\u{6B04}", "\u{1EA1}\u{301}", "42"] {
            let grant = try await grant(try await sign(Claims(sub: subject, exp: later)), try settings())
            #expect(grant.subscribe.patterns.map(\.description) == ["users/\(subject)/**"])
            #expect(grant.identity == "jwt::\(subject)")
        }
    }

    /// Tokens without a subject each count on their own against `max_streams_per_token` (they shared one count), by
    /// an identity that does not hold the token (it may be stored, as a publish's delivery key).
    @Test func tokensWithoutASubjectEachHaveTheirOwnIdentity() async throws {
        let first = try await sign(Claims(exp: later, hookstream: .init(subscribe: ["a/**"])))
        let second = try await sign(Claims(exp: later + 1, hookstream: .init(subscribe: ["a/**"])))
        let one = try await grant(first, try settings())
        let other = try await grant(second, try settings())
        #expect(one.identity != other.identity)
        #expect(try await grant(first, try settings()).identity == one.identity, "the same token, the same identity")
        #expect(!one.identity.contains(first) && !one.identity.contains(String(first.split(separator: ".")[2])))
        let withSubject = try await grant(try await sign(Claims(sub: "42", exp: later)), try settings())
        #expect(withSubject.identity == "jwt::42")
    }

    /// `leeway` allows for clocks that differ: a token just past its `exp`, or just before its `nbf`, is accepted
    /// within it, and its grant ends at `exp` + leeway; past the leeway it is refused as without one.
    @Test func theLeewayAllowsForClocksThatDiffer() async throws {
        let nowSeconds = Double(Self.now / 1000)
        let lenient = try settings { $0.leeway = .seconds(30) }
        let justExpired = try await sign(Claims(sub: "42", exp: nowSeconds - 10))
        #expect(try await grant(justExpired, lenient).expiresAt == Int64((nowSeconds + 20) * 1000))
        let notYet = try await sign(Claims(sub: "42", exp: nowSeconds + 600, nbf: nowSeconds + 10))
        #expect(try await grant(notYet, lenient).name == "jwt:42")
        for token in [try await sign(Claims(sub: "42", exp: nowSeconds - 31)), try await sign(Claims(sub: "42", exp: nowSeconds + 600, nbf: nowSeconds + 31))] {
            await #expect(throws: AuthFailure.self) { try await grant(token, lenient) }
        }
        await #expect(throws: AuthFailure.self) { try await grant(justExpired, try settings()) }
    }

    @Test func aSubjectCannotWidenItsGrant() async throws {
        for subject in ["*", "**", "42/../43", "", "a b", ".."] {
            let token = try await sign(Claims(sub: subject, exp: later))
            let grant = try await grant(token, try settings())
            #expect(grant.subscribe.patterns.isEmpty, "subject '\(subject)' grants nothing")
        }
    }

    /// A key rotation's first step: the new key configured beside the old one. Tokens signed with either are
    /// accepted, whichever comes first in the list and whatever `kid` the token names; one signed with neither is
    /// refused. (Only the last configured key verified anything: jwt-kit kept one key without a key id.)
    @Test func everyConfiguredKeyVerifiesNotOnlyTheLast() async throws {
        let old = "the-old-hs256-secret-that-is-32-bytes-long"
        let new = "the-new-hs256-secret-that-is-32-bytes-long"
        let privateKey = P256.Signing.PrivateKey()
        let keys = [
            try JWTVerificationKey(algorithm: "HS256", material: old),
            try JWTVerificationKey(algorithm: "ES256", material: privateKey.publicKey.pemRepresentation),
            try JWTVerificationKey(algorithm: "HS256", material: new),
        ]
        let configured = try settings { $0.keys = keys }
        let claims = Claims(sub: "42", exp: later)
        #expect(try await grant(try await sign(claims, secret: old), configured).name == "jwt:42")
        #expect(try await grant(try await sign(claims, secret: new), configured).name == "jwt:42")
        let es = JWTKeyCollection()
        await es.add(ecdsa: try ES256PrivateKey(pem: privateKey.pemRepresentation), kid: "the-backends-own-kid")
        #expect(try await grant(try await es.sign(claims), configured).name == "jwt:42")
        // Bad input: a token signed with a key that is not configured.
        let stranger = try await sign(claims, secret: "another-hs256-secret-that-is-32-bytes")
        await #expect(throws: AuthFailure.self) { try await grant(stranger, configured) }
    }

    /// A JWKS document beside a configured key: a token naming a JWKS key's `kid` is checked by that key alone; any
    /// other token by the configured keys. Bad input: a token naming the JWKS key but signed with the configured one.
    @Test func aJWKSKeyIsReachedOnlyByItsKeyID() async throws {
        let privateKey = P256.Signing.PrivateKey()
        let point = privateKey.publicKey.x963Representation
        func base64URL(_ bytes: some Sequence<UInt8>) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let document = #"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","x":"\#(base64URL(point.dropFirst().prefix(32)))","y":"\#(base64URL(point.suffix(32)))"}]}"#
        let configured = try settings { $0.jwks = try? JSONDecoder().decode(JWKS.self, from: Data(document.utf8)) }
        #expect(configured.jwks != nil)
        let claims = Claims(sub: "42", exp: later)
        let es = JWTKeyCollection()
        await es.add(ecdsa: try ES256PrivateKey(pem: privateKey.pemRepresentation), kid: "k1")
        #expect(try await grant(try await es.sign(claims, kid: "k1"), configured).name == "jwt:42")
        #expect(try await grant(try await sign(claims), configured).name == "jwt:42", "the configured key, no kid")
        let hs = JWTKeyCollection()
        await hs.add(hmac: HMACKey(from: Self.secret), digestAlgorithm: .sha256, kid: "k1")
        let misnamed = try await hs.sign(claims, kid: "k1")
        await #expect(throws: AuthFailure.self) { try await grant(misnamed, configured) }
        #expect(JWTAuthenticator.keyID(of: misnamed) == "k1")
        #expect(JWTAuthenticator.keyID(of: "not a token") == nil)
    }

    @Test func es256KeysFromPEM() async throws {
        let privateKey = P256.Signing.PrivateKey()
        var settings = JWTSettings()
        settings.keys = [try JWTVerificationKey(algorithm: "ES256", material: privateKey.publicKey.pemRepresentation)]
        settings.subscribe = [try GrantTemplate("users/{sub}/**")]
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PrivateKey(pem: privateKey.pemRepresentation))
        let token = try await keys.sign(Claims(sub: "7", exp: later))
        #expect(try await grant(token, settings).subscribe.covers(try TopicPattern("users/7/x")))
        // An HS256 token is not accepted by an ES256-only configuration.
        let hmac = try await sign(Claims(sub: "7", exp: later))
        await #expect(throws: AuthFailure.self) { try await grant(hmac, settings) }
    }

    @Test func keyMaterialIsCheckedWhenTheConfigIsRead() {
        // Bad input: a short HMAC secret (jwt-kit asserts on it), a private key where a public one goes, not a PEM.
        #expect(throws: JWTVerificationKey.Failure.self) { try JWTVerificationKey(algorithm: "HS256", material: "short") }
        #expect(throws: JWTVerificationKey.Failure.self) { try JWTVerificationKey(algorithm: "ES256", material: P256.Signing.PrivateKey().pemRepresentation) }
        #expect(throws: JWTVerificationKey.Failure.self) { try JWTVerificationKey(algorithm: "RS256", material: "hello") }
        #expect(throws: JWTVerificationKey.Failure.self) { try JWTVerificationKey(algorithm: "XS256", material: "x") }
    }
}
