import ArgumentParser
import Foundation
import JWTKit

/// `hookstream token`: mints a JWT that hookstream's `auth.jwt` accepts, for scripts and tests (a web app's backend
/// would mint them with its own JWT library, the same way).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint a JWT for hookstream (HS256 with a shared secret, or ES256/RS256/EdDSA with a private key).",
        discussion: "Example: HOOKSTREAM_JWT_SECRET=... hookstream token --secret-env HOOKSTREAM_JWT_SECRET --sub 42 --ttl 1h"
    )

    @Option(name: .customLong("secret-env"), help: "The environment variable that holds the HMAC secret.")
    var secretEnv: String?

    @Option(name: .long, help: "A PEM private key file (EC P-256 for ES256, RSA for RS256, Ed25519 for EdDSA).")
    var key: String?

    @Option(name: .long, help: "The algorithm: HS256 (default with --secret-env), HS384, HS512, ES256 (default with --key), RS256, EdDSA.")
    var alg: String?

    @Option(name: .long, help: "The subject (sub): what {sub} stands for in auth.jwt.subscribe.")
    var sub: String

    @Option(name: .long, help: "A topic pattern the token may read, in its own claim (repeatable).")
    var subscribe: [String] = []

    @Option(name: .long, help: "A topic pattern the token may publish to (repeatable).")
    var publish: [String] = []

    @Option(name: .long, help: "How long the token is valid: 30s, 15m, 1h, 7d.")
    var ttl: String = "1h"

    @Option(name: .long, help: "The issuer (iss).")
    var issuer: String?

    @Option(name: .long, help: "The audience (aud), once per audience: a server whose auth.jwt.audience is none of them refuses the token.")
    var audience: [String] = []

    @Option(name: .long, help: "The claim that holds the grants (auth.jwt.claim).")
    var claim: String = "hookstream"

    @Option(name: .long, help: "The key id (kid) put in the token's header: a key of auth.jwt.jwks is tried only for tokens whose kid names it.")
    var kid: String?

    func run() async throws {
        guard let seconds = TokenCommand.seconds(ttl), seconds > 0, seconds <= TokenCommand.longestTTL else {
            throw ValidationError("--ttl must be a duration above zero like 30s, 15m, 1h or 7d, at most 36500d")
        }
        let keys = JWTKeyCollection()
        if let kid, kid.isEmpty { throw ValidationError("--kid must not be empty") }
        // A server's auth.jwt.audience cannot be empty either: such a token would be taken by none.
        if audience.contains("") { throw ValidationError("--audience must not be empty") }
        let keyID = kid.map { JWKIdentifier(string: $0) }
        switch (secretEnv, key) {
        case (let name?, nil):
            guard let secret = ProcessInfo.processInfo.environment[name], !secret.isEmpty else {
                throw ValidationError("the environment variable \(name) is not set")
            }
            let algorithm = alg ?? "HS256"
            let digest: DigestAlgorithm = algorithm == "HS512" ? .sha512 : algorithm == "HS384" ? .sha384 : .sha256
            guard ["HS256", "HS384", "HS512"].contains(algorithm) else { throw ValidationError("--secret-env signs with HS256, HS384 or HS512") }
            // As long as the hash at least (RFC 7518 3.2), as the server's auth.jwt.keys require.
            let minimum = digest == .sha512 ? 64 : digest == .sha384 ? 48 : 32
            guard secret.utf8.count >= minimum else { throw ValidationError("an \(algorithm) secret must be at least \(minimum) bytes long") }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: digest, kid: keyID)
        case (nil, let path?):
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read the key file \(path)") }
            do {
                switch alg ?? "ES256" {
                case "ES256": await keys.add(ecdsa: try ES256PrivateKey(pem: pem), kid: keyID)
                case "ES384": await keys.add(ecdsa: try ES384PrivateKey(pem: pem), kid: keyID)
                case "RS256": await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: pem), digestAlgorithm: .sha256, kid: keyID)
                case "EdDSA": await keys.add(eddsa: try EdDSA.PrivateKey(pem: pem), kid: keyID)
                default: throw ValidationError("--key signs with ES256, ES384, RS256 or EdDSA")
                }
            } catch let error as ValidationError {
                throw error
            } catch {
                // The usual cause is a key of another kind than the algorithm (ES256 unless --alg says otherwise).
                let kinds: [(alg: String, fits: Bool)] = [
                    ("ES256", (try? ES256PrivateKey(pem: pem)) != nil), ("ES384", (try? ES384PrivateKey(pem: pem)) != nil),
                    ("RS256", (try? Insecure.RSA.PrivateKey(pem: pem)) != nil), ("EdDSA", (try? EdDSA.PrivateKey(pem: pem)) != nil),
                ]
                let hint = kinds.first { $0.fits && $0.alg != (alg ?? "ES256") }.map { ": the file holds a key for \($0.alg); give --alg \($0.alg)" }
                throw ValidationError("the key file is not a usable \(alg ?? "ES256") private key" + (hint ?? " (\(error))"))
            }
        default:
            throw ValidationError("give either --secret-env VAR or --key FILE")
        }
        let now = Date().timeIntervalSince1970
        let payload = MintedClaims(
            sub: sub, exp: Int(now) + seconds, iat: Int(now), iss: issuer, aud: audience.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }, claim: claim,
            subscribe: subscribe.isEmpty ? nil : subscribe, publish: publish.isEmpty ? nil : publish)
        print(try await keys.sign(payload, kid: keyID))
    }

    /// A hundred years: past it a token's `exp` would mean nothing (and far past it, overflow).
    static let longestTTL = 36_500 * 86_400

    /// `text` (`90`, `30s`, `15m`, `1h`, `7d`) in seconds; `nil` when it is none of these or does not fit an `Int`.
    static func seconds(_ text: String) -> Int? {
        let units: [(String, Int)] = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
        if let n = Int(text) { return n }
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let n = Int(text.dropLast()) else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: scale)
            return overflow ? nil : product
        }
        return nil
    }
}

/// The payload `token` signs: registered claims, and the grants under the configured claim name.
struct MintedClaims: JWTPayload {
    var sub: String
    var exp: Int
    var iat: Int
    var iss: String?
    /// One audience is written as a string, several as a list (RFC 7519 4.1.3 allows both).
    var aud: [String]
    var claim: String
    var subscribe: [String]?
    var publish: [String]?

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct Grants: Encodable {
        var subscribe: [String]?
        var publish: [String]?
    }

    init(sub: String, exp: Int, iat: Int, iss: String?, aud: [String], claim: String, subscribe: [String]?, publish: [String]?) {
        (self.sub, self.exp, self.iat, self.iss, self.aud, self.claim, self.subscribe, self.publish) = (sub, exp, iat, iss, aud, claim, subscribe, publish)
    }

    init(from decoder: any Decoder) throws {
        throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "minting only"))
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(sub, forKey: Key("sub"))
        try container.encode(exp, forKey: Key("exp"))
        try container.encode(iat, forKey: Key("iat"))
        try container.encodeIfPresent(iss, forKey: Key("iss"))
        if aud.count == 1 {
            try container.encode(aud[0], forKey: Key("aud"))
        } else if !aud.isEmpty {
            try container.encode(aud, forKey: Key("aud"))
        }
        if subscribe != nil || publish != nil { try container.encode(Grants(subscribe: subscribe, publish: publish), forKey: Key(claim)) }
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
