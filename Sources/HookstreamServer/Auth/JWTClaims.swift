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
            case "sub": subject = try? container.decode(String.self, forKey: key)
            case "exp": expiration = try? container.decode(Double.self, forKey: key)
            case "nbf": notBefore = try? container.decode(Double.self, forKey: key)
            case "iss": issuer = try? container.decode(String.self, forKey: key)
            case "aud":
                if let one = try? container.decode(String.self, forKey: key) {
                    audience = [one]
                } else {
                    audience = try? container.decode([String].self, forKey: key)
                }
            default:
                if let grant = try? container.decode(GrantClaim.self, forKey: key) { grants[key.stringValue] = grant }
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encodeIfPresent(subject, forKey: Key(stringValue: "sub"))
        try container.encodeIfPresent(expiration, forKey: Key(stringValue: "exp"))
    }

    /// Signature checks are jwt-kit's; the claims are checked by ``JWTAuthenticator`` against the config.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
