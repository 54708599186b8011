public import JWTKit

/// A key that verifies JWT signatures, by algorithm: read from the config, parsed when the config is loaded so that a
/// bad key is a config error with its position.
public enum JWTVerificationKey: Sendable {
    /// HS256, HS384, HS512: a shared secret at least as long as the hash (32, 48, 64 bytes; RFC 7518 3.2).
    case hmac(HMACKey, DigestAlgorithm)
    case es256(ES256PublicKey)
    case es384(ES384PublicKey)
    case es512(ES512PublicKey)
    /// RS256, RS384, RS512.
    case rsa(Insecure.RSA.PublicKey, DigestAlgorithm)
    case eddsa(EdDSA.PublicKey)

    /// The `alg` names the config accepts.
    public static let algorithms = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"]

    /// Whether `algorithm` takes a shared secret (rather than a public key).
    public static func isHMAC(_ algorithm: String) -> Bool { algorithm.hasPrefix("HS") }

    /// The key for `algorithm` from its material: a shared secret for HS*, a PEM public key (or a certificate) for
    /// the others.
    /// - Throws: a message saying why the material does not make a key.
    public init(algorithm: String, material: String) throws(JWTVerificationKey.Failure) {
        func digest(_ suffix: Substring) -> DigestAlgorithm {
            switch suffix {
            case "384": .sha384
            case "512": .sha512
            default: .sha256
            }
        }
        do {
            switch algorithm {
            case "HS256", "HS384", "HS512":
                let minimum = Int(algorithm.dropFirst(2))! / 8
                guard material.utf8.count >= minimum else {
                    throw Failure(message: "an \(algorithm) secret must be at least \(minimum) bytes long, this one has \(material.utf8.count)")
                }
                self = .hmac(HMACKey(from: material), digest(algorithm.dropFirst(2)))
            case "ES256": self = .es256(try ES256PublicKey(pem: JWTVerificationKey.publicPEM(material)))
            case "ES384": self = .es384(try ES384PublicKey(pem: JWTVerificationKey.publicPEM(material)))
            case "ES512": self = .es512(try ES512PublicKey(pem: JWTVerificationKey.publicPEM(material)))
            case "RS256", "RS384", "RS512":
                self = .rsa(try Insecure.RSA.PublicKey(pem: JWTVerificationKey.publicPEM(material)), digest(algorithm.dropFirst(2)))
            case "EdDSA": self = .eddsa(try EdDSA.PublicKey(pem: JWTVerificationKey.publicPEM(material)))
            default:
                throw Failure(message: "alg must be one of \(JWTVerificationKey.algorithms.joined(separator: ", ")), found '\(algorithm)'")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(message: "not a usable \(algorithm) public key: \(JWTVerificationKey.kind(of: material, notFor: algorithm))")
        }
    }

    /// What a PEM public key that `algorithm` cannot use holds: usually a key of another kind, and then the `alg`
    /// that fits it (the library's own error says only `invalidPEMDocument` or a BoringSSL code).
    private static func kind(of material: String, notFor algorithm: String) -> String {
        let kinds: [(alg: String, fits: Bool)] = [
            ("ES256", (try? ES256PublicKey(pem: material)) != nil), ("ES384", (try? ES384PublicKey(pem: material)) != nil),
            ("ES512", (try? ES512PublicKey(pem: material)) != nil), ("RS256", (try? Insecure.RSA.PublicKey(pem: material)) != nil),
            ("EdDSA", (try? EdDSA.PublicKey(pem: material)) != nil),
        ]
        guard let fit = kinds.first(where: { $0.fits && $0.alg != algorithm }) else {
            return "the PEM holds no public key of that kind (openssl pkey -in KEY -pubout writes one from its private key)"
        }
        let family = fit.alg == "RS256" ? "an RSA key (RS256, RS384 or RS512)" : "a key for \(fit.alg)"
        return "it holds \(family): give the alg that fits the key"
    }

    private static func publicPEM(_ material: String) throws(Failure) -> String {
        guard material.contains("-----BEGIN") else { throw Failure(message: "expected a PEM public key (-----BEGIN PUBLIC KEY-----)") }
        guard !material.contains("PRIVATE KEY") else {
            throw Failure(message: "this is a private key: give hookstream only the public key (openssl pkey -pubout)")
        }
        return material
    }

    /// Why key material was refused.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
