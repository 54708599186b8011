import JWTKit

/// A JWT's payload as hookstream reads it: the registered claims it checks, and every other claim that has the
/// shape of a grant (`{"subscribe": [...], "publish": [...]}`), since which claim carries the grant is configured.
struct JWTClaims: JWTPayload {
    var subject: String?
    var expiration: Double?
    var notBefore: Double?
    var issuer: String?
    var audience: [String]?
    var grants: [String: GrantClaim] = [:]
    /// Registered claims present with a type the standard does not give them (`"exp": "1"`, `"sub": 42`): the token
    /// is refused rather than read as if they were absent (a string `exp` would otherwise never expire).
    var mistyped: [String] = []

    /// A claim of grants.
    struct GrantClaim: Decodable {
        var subscribe: [String]?
        var publish: [String]?
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        for key in container.allKeys {
            switch key.stringValue {
            case "sub": subject = decode(String.self, key, in: container)
            case "exp": expiration = decode(Double.self, key, in: container)
            case "nbf": notBefore = decode(Double.self, key, in: container)
            case "iss": issuer = decode(String.self, key, in: container)
            case "aud":
                if let one = try? container.decode(String.self, forKey: key) {
                    audience = [one]
                } else {
                    audience = decode([String].self, key, in: container)
                }
            default:
                if let grant = try? container.decode(GrantClaim.self, forKey: key) { grants[key.stringValue] = grant }
            }
        }
    }

    /// The claim as `type`, or `nil` (and the claim noted as mistyped) when it is there with another type. A JSON
    /// `null` counts as absent.
    private mutating func decode<T: Decodable>(_ type: T.Type, _ key: Key, in container: KeyedDecodingContainer<Key>) -> T? {
        if (try? container.decodeNil(forKey: key)) == true { return nil }
        guard let value = try? container.decode(type, forKey: key) else {
            mistyped.append(key.stringValue)
            return nil
        }
        return value
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encodeIfPresent(subject, forKey: Key(stringValue: "sub"))
        try container.encodeIfPresent(expiration, forKey: Key(stringValue: "exp"))
    }

    /// Signature checks are jwt-kit's; the claims are checked by ``JWTAuthenticator`` against the config.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
