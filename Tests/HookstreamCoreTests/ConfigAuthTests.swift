import Crypto
import Foundation
import Testing

@testable import HookstreamCore

/// `auth` (tokens, JWT keys, cookie, caps) and `cors`, with the issue's contract and errors at their positions.
@Suite struct ConfigAuthTests {
    private func errors(_ yaml: String, environment: [String: String] = [:]) -> [String] {
        do {
            _ = try ConfigLoader.parse(yaml, file: "test.yaml", environment: environment)
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func theContractsAuthAndCORS() throws {
        let directory = try TemporaryFolder.make("hookstream-jwt")
        let pem = P256.Signing.PrivateKey().publicKey.pemRepresentation
        try pem.write(to: directory.appendingPathComponent("jwt-es256.pem"), atomically: true, encoding: .utf8)
        // A public key is not secret: its file may be read by every user without a warning.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory.appendingPathComponent("jwt-es256.pem").path)
        let config = try ConfigLoader.parse(
            """
            auth:
              cookie: hookstream_token
              max_streams_per_token: 5
              jwt:
                keys:
                  - { alg: HS256, secret: { env: HOOKSTREAM_JWT_SECRET } }
                  - { alg: ES256, public_key: { file: jwt-es256.pem } }
                issuer: https://app.example
                audience: hookstream
                claim: hookstream
                subscribe: ["users/{sub}/**"]
                publish: []
                leeway: 30s
            cors:
              origins: ["http://localhost:5173"]
            """, file: directory.appendingPathComponent("hookstream.yaml").path,
            environment: ["HOOKSTREAM_JWT_SECRET": String(repeating: "s", count: 32)])
        #expect(config.auth.cookie == "hookstream_token")
        #expect(config.auth.maxStreamsPerToken == 5)
        let jwt = try #require(config.auth.jwt)
        #expect(jwt.keys.count == 2)
        #expect(jwt.issuer == "https://app.example")
        #expect(jwt.audience == "hookstream")
        #expect(jwt.subscribe.map(\.description) == ["users/{sub}/**"])
        #expect(jwt.requiresExpiration)
        #expect(jwt.leeway == .seconds(30))
        #expect(config.cors.origins == ["http://localhost:5173"])
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(jwt.subscribe[0].pattern(subject: "42")?.description == "users/42/**")
        #expect(jwt.subscribe[0].pattern(subject: "4/2") == nil)
    }

    @Test func badAuthIsReportedWhereItIs() {
        // Bad input: a short HS256 secret, a public key for an HMAC algorithm, an unknown algorithm, a template that is
        // no pattern, an origin with a path, a cookie name with '='.
        let found = errors(
            """
            auth:
              cookie: "a=b"
              jwt:
                keys:
                  - { alg: HS256, secret: too-short }
                  - { alg: HS512, public_key: x }
                  - { alg: XS256, secret: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx }
                  - { alg: ES256, public_key: "not a pem" }
                subscribe: ["users/{sub}/**/x"]
            cors:
              origins: ["https://app.example/path", "*"]
            """)
        // Bad input: a leeway past its bound, and one that is no duration.
        for (leeway, message) in [("10m", "auth.jwt.leeway is at most 5m"), ("soon", "auth.jwt.leeway must be a duration")] {
            let found = errors("auth:\n  jwt:\n    keys: [{ alg: HS256, secret: \(String(repeating: "s", count: 32)) }]\n    leeway: \(leeway)\n")
            #expect(found.contains { $0.hasPrefix("test.yaml:4:13: error: \(message)") }, "\(found)")
        }
        // Bad input: an empty audience (every token would be refused).
        let emptyAudience = errors("auth:\n  jwt:\n    keys: [{ alg: HS256, secret: \(String(repeating: "s", count: 32)) }]\n    audience: \"\"\n")
        #expect(emptyAudience == ["test.yaml:4:15: error: auth.jwt.audience is empty: give the audience the tokens carry, or leave it out"], "\(emptyAudience)")
        #expect(found.contains { $0.hasPrefix("test.yaml:2:11: error: auth.cookie must be a cookie name") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:5:31: error: auth.jwt.keys[0].secret: an HS256 secret must be at least 32 bytes long") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:6:35: error: auth.jwt.keys[1]: HS512 takes a secret, not a public_key") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:7:16: error: auth.jwt.keys[2].alg must be one of") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:8:35: error: auth.jwt.keys[3].public_key: expected a PEM public key") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:9:17: error: auth.jwt.subscribe: invalid topic pattern 'users/{sub}/**/x'") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:11:13: error: cors.origins: 'https://app.example/path' is not an origin") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:11:41: error: cors.origins: '*' is not an origin") }, "\(found)")
    }

    /// Bad input: a P-384 public key given for ES256 (the error names the alg that fits it, where the library said
    /// `invalidPEMDocument`), a PEM that holds no key, and a JWKS key without `kid` (refused by `check` at its
    /// position; the server failed to start on it with the library's error and no position).
    @Test func keysOfAnotherKindAndJWKSKeysWithoutAnIDAreToldApart() {
        let p384 = P384.Signing.PrivateKey().publicKey.pemRepresentation.replacingOccurrences(of: "\n", with: "\\n")
        let found = errors(
            """
            auth:
              jwt:
                keys:
                  - { alg: ES256, public_key: "\(p384)" }
                  - { alg: ES256, public_key: "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n" }
                jwks: { value: '{"keys":[{"kty":"RSA","alg":"RS256","n":"AQAB","e":"AQAB"}]}' }
            """)
        #expect(found.count == 3, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:4:35: error: auth.jwt.keys[0].public_key: not a usable ES256 public key: it holds a key for ES384: give the alg that fits the key") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:5:35: error: auth.jwt.keys[1].public_key: not a usable ES256 public key: the PEM holds no public key of that kind") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:6:11: error: auth.jwt.jwks: keys[0] has no \"kid\"") }, "\(found)")
    }

    /// An identity provider's JWKS lists encryption keys beside its signing keys, some of kinds no signature uses
    /// (X25519): they are left out, and the signing key is taken (the whole document used to be refused).
    @Test func aJWKSsEncryptionKeysAreLeftOut() throws {
        let point = P256.Signing.PrivateKey().publicKey.x963Representation
        func base64URL(_ bytes: some Sequence<UInt8>) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let signing = #"{"kty":"EC","crv":"P-256","kid":"sig-1","use":"sig","alg":"ES256","x":"\#(base64URL(point.dropFirst().prefix(32)))","y":"\#(base64URL(point.suffix(32)))"}"#
        let encryption = #"{"kty":"OKP","crv":"X25519","kid":"enc-1","use":"enc","x":"\#(base64URL(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation))"}"#
        let config = try ConfigLoader.parse(
            "auth:\n  jwt:\n    jwks: { value: '{\"keys\":[\(encryption),\(signing)]}' }\n", file: "test.yaml")
        let kept = String(decoding: try JSONEncoder().encode(try #require(config.auth.jwt?.jwks)), as: UTF8.self)
        #expect(kept.contains(#""kid":"sig-1""#) && !kept.contains("enc-1"), "\(kept)")
    }

    /// Bad input: placeholders written where none is, or not as written: `{subject}` in a JWT grant, `{sub}` under a
    /// static token (which has no subject), `{id}` in allow_topics and in a rule's topic (a placeholder there is
    /// `{{ id }}`). Each matched or rendered its braces as literal text, so the grant granted nothing useful, and
    /// `check` said nothing. `{sub}` in a JWT grant and `{{ }}` in a topic are what they should be.
    @Test func placeholdersWhereNoneIsAreRefusedWhereTheyAre() {
        let found = errors(
            """
            auth:
              jwt:
                keys: [{ alg: HS256, secret: \(String(repeating: "s", count: 32)) }]
                subscribe: ["users/{sub}/**", "teams/{subject}/**"]
              tokens:
                - { name: ops, secret: { value: ops-token }, subscribe: ["users/{sub}/**", "ok/**"] }
            sources: { app: {} }
            rules:
              - { name: a, source: app, allow_topics: ["x/{id}/**"], publish: { topic: "x/{id}/y" } }
              - { name: b, source: app, publish: { topic: "x/{{ body.id }}/y" } }
            """)
        #expect(found.count == 4, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:4:35: error: auth.jwt.subscribe: invalid topic pattern 'teams/{subject}/**': '{subject}' is no placeholder: a grant has one, {sub}") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:6:62: error: auth.tokens[0].subscribe: '{sub}' stands for a JWT's subject") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:9:44: error: rules[0].allow_topics: '{id}' is no placeholder") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:9:76: error: rules[0].publish.topic: '{id}' is no placeholder: a placeholder is written {{ path }}") }, "\(found)")
    }
}
