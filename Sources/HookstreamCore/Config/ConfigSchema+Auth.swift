import Foundation
import JWTKit
import Yams

extension ConfigSchema {
    /// `auth`: static tokens, JWTs, the cookie name, the per-token stream cap and the ticket lifetime.
    ///
    /// ```yaml
    /// auth:
    ///   cookie: hookstream_token
    ///   max_streams_per_token: 50
    ///   tokens: [{ name: ops, secret: { env: OPS_TOKEN }, subscribe: ["deploys/**"] }]
    ///   jwt:
    ///     keys: [{ alg: HS256, secret: { env: HOOKSTREAM_JWT_SECRET } }]
    ///     subscribe: ["users/{sub}/**"]
    /// ```
    func readAuth(_ node: Node, into config: inout Configuration) {
        guard let m = reader.mapping(node, "auth") else { return }
        let allowed = ["tokens", "cookie", "max_streams_per_token", "ticket_ttl", "jwt"]
        for (key, _, value) in reader.entries(m, allowed: allowed, in: "auth") {
            switch key {
            case "tokens": readTokens(value, into: &config)
            case "cookie":
                guard let name = reader.string(value, "auth.cookie") else { continue }
                if name.isEmpty || name.contains(where: { "=;, \t\"".contains($0) || !$0.isASCII }) {
                    reader.error(at: value, "auth.cookie must be a cookie name (no '=', ';', ',' or spaces), found '\(name)'")
                } else {
                    config.auth.cookie = name
                }
            case "max_streams_per_token":
                if let n = reader.int(value, "auth.max_streams_per_token", range: 1...1_000_000) { config.auth.maxStreamsPerToken = n }
            case "ticket_ttl":
                if let d = reader.duration(value, "auth.ticket_ttl", minimum: .seconds(1)) { config.auth.ticketLifetime = d }
            case "jwt":
                config.auth.jwt = readJWT(value)
            default: break
            }
        }
    }

    private func readTokens(_ value: Node, into config: inout Configuration) {
        guard case .sequence(let seq) = value else {
            if !ConfigReader.isNull(value) { reader.error(at: value, "auth.tokens must be a list, found \(reader.kind(of: value))") }
            return
        }
        var names: Set<String> = []
        // Each token's secret, by its bytes, to the name of the first token with it: a request presenting a secret
        // two tokens share could not say which of their grants it has.
        var secrets: [[UInt8]: String] = [:]
        for (i, element) in seq.enumerated() {
            let what = "auth.tokens[\(i)]"
            guard let tm = reader.mapping(element, what) else { continue }
            var name: String?
            var secret: String?
            var subscribe: [TopicPattern] = []
            var publish: [TopicPattern] = []
            for (k, _, v) in reader.entries(tm, allowed: ["name", "secret", "subscribe", "publish"], in: what) {
                switch k {
                case "name":
                    name = reader.string(v, "\(what).name")
                    if let n = name, !names.insert(n).inserted { reader.error(at: v, "duplicate token name '\(n)'") }
                case "secret":
                    secret = readSecret(v, "\(what).secret")
                    if let secret {
                        if let first = secrets[Array(secret.utf8)] {
                            reader.error(at: v, "\(what).secret is the secret of token '\(first)' too: each token needs a secret of its own")
                        } else {
                            secrets[Array(secret.utf8)] = name ?? tm["name"].flatMap { $0.string } ?? what
                        }
                    }
                case "subscribe": subscribe = readPatterns(v, "\(what).subscribe")
                case "publish": publish = readPatterns(v, "\(what).publish")
                default: break
                }
            }
            if name == nil && tm["name"] == nil { reader.error(at: element, "\(what) needs a name") }
            if tm["secret"] == nil { reader.error(at: element, "\(what) needs a secret") }
            if let name, let secret {
                config.tokens.append(AccessToken(name: name, secret: secret, subscribe: TopicFilter(subscribe), publish: TopicFilter(publish)))
            }
        }
    }

    private func readJWT(_ node: Node) -> JWTSettings? {
        guard let m = reader.mapping(node, "auth.jwt") else { return nil }
        var settings = JWTSettings()
        let allowed = ["keys", "jwks", "issuer", "audience", "claim", "subscribe", "publish", "require_exp", "leeway"]
        for (key, _, value) in reader.entries(m, allowed: allowed, in: "auth.jwt") {
            switch key {
            case "keys":
                guard case .sequence(let list) = value else {
                    reader.error(at: value, "auth.jwt.keys must be a list of { alg: ..., secret: ... } or { alg: ..., public_key: ... }")
                    continue
                }
                for (i, element) in list.enumerated() {
                    if let key = readJWTKey(element, "auth.jwt.keys[\(i)]") { settings.keys.append(key) }
                }
            case "jwks":
                guard let text = readSecret(value, "auth.jwt.jwks") else { continue }
                do {
                    let document = try JSONDecoder().decode(JWKS.self, from: ConfigSchema.signingKeys(ofJWKS: text))
                    if document.keys.isEmpty {
                        reader.error(at: value, "auth.jwt.jwks has no keys: no token could be verified with it")
                    } else if let index = document.keys.firstIndex(where: { ($0.keyIdentifier?.string ?? "").isEmpty }) {
                        // The server could not put it in use (each key of a JWKS is found by the kid a token names).
                        reader.error(at: value, "auth.jwt.jwks: keys[\(index)] has no \"kid\": each key of a JWKS document needs one, the id tokens name it by")
                    } else {
                        settings.jwks = JWKS(keys: document.keys.map(ConfigSchema.withAlgorithm))
                    }
                } catch {
                    reader.error(at: value, "auth.jwt.jwks is not a JWKS document ({\"keys\": [...]}): \(ConfigSchema.describe(error))")
                }
            case "issuer": settings.issuer = reader.string(value, "auth.jwt.issuer")
            case "audience":
                settings.audience = reader.string(value, "auth.jwt.audience")
                if settings.audience?.isEmpty == true { reader.error(at: value, "auth.jwt.audience is empty: give the audience the tokens carry, or leave it out") }
            case "claim": if let claim = reader.string(value, "auth.jwt.claim") { settings.claim = claim }
            case "subscribe": settings.subscribe = readGrantTemplates(value, "auth.jwt.subscribe")
            case "publish": settings.publish = readGrantTemplates(value, "auth.jwt.publish")
            case "require_exp": settings.requiresExpiration = reader.bool(value, "auth.jwt.require_exp") ?? true
            case "leeway":
                guard let leeway = reader.duration(value, "auth.jwt.leeway") else { continue }
                if leeway > JWTSettings.maximumLeeway {
                    reader.error(at: value, "auth.jwt.leeway is at most 5m (it allows for clocks that differ, not for expired tokens)")
                } else {
                    settings.leeway = leeway
                }
            default: break
            }
        }
        if settings.keys.isEmpty && settings.jwks == nil && m["keys"] == nil && m["jwks"] == nil {
            reader.error(at: node, "auth.jwt needs keys (or a jwks document) to verify tokens with")
        }
        return settings
    }

    private func readJWTKey(_ node: Node, _ what: String) -> JWTVerificationKey? {
        guard let m = reader.mapping(node, what) else { return nil }
        var algorithm: String?
        var algorithmNode: Node?
        var material: String?
        var materialNode: Node?
        var materialKey: String?
        for (k, _, v) in reader.entries(m, allowed: ["alg", "secret", "public_key"], in: what) {
            switch k {
            case "alg":
                algorithm = reader.string(v, "\(what).alg")
                algorithmNode = v
            case "secret", "public_key":
                material = readSecret(v, "\(what).\(k)", isPublic: k == "public_key")
                materialNode = v
                materialKey = k
            default: break
            }
        }
        guard let algorithm else {
            reader.error(at: node, "\(what) needs an alg (\(JWTVerificationKey.algorithms.joined(separator: ", ")))")
            return nil
        }
        guard JWTVerificationKey.algorithms.contains(algorithm) else {
            reader.error(at: algorithmNode, "\(what).alg must be one of \(JWTVerificationKey.algorithms.joined(separator: ", ")), found '\(algorithm)'")
            return nil
        }
        let wanted = JWTVerificationKey.isHMAC(algorithm) ? "secret" : "public_key"
        guard let material, let materialKey else {
            if m["secret"] == nil && m["public_key"] == nil { reader.error(at: node, "\(what) (\(algorithm)) needs a \(wanted)") }
            return nil
        }
        guard materialKey == wanted else {
            reader.error(at: materialNode, "\(what): \(algorithm) takes a \(wanted), not a \(materialKey)")
            return nil
        }
        do {
            return try JWTVerificationKey(algorithm: algorithm, material: material)
        } catch {
            reader.error(at: materialNode, "\(what).\(materialKey): \(error.message)")
            return nil
        }
    }

    private func readGrantTemplates(_ node: Node, _ what: String) -> [GrantTemplate] {
        guard let list = reader.stringList(node, what) else { return [] }
        var templates: [GrantTemplate] = []
        for (text, element) in list {
            do {
                templates.append(try GrantTemplate(text))
            } catch {
                reader.error(at: element, "\(what): \(error)")
            }
        }
        return templates
    }

    /// `cors: { origins: [...] }`.
    func readCORS(_ node: Node, into cors: inout Configuration.CORS) {
        guard let m = reader.mapping(node, "cors") else { return }
        for (key, _, value) in reader.entries(m, allowed: ["origins"], in: "cors") where key == "origins" {
            guard let list = reader.stringList(value, "cors.origins") else { continue }
            for (origin, element) in list {
                // An origin is scheme://host[:port], exactly as browsers send it: no path, no trailing slash.
                let valid = (origin.hasPrefix("http://") || origin.hasPrefix("https://"))
                    && !origin.dropFirst(origin.hasPrefix("https") ? 8 : 7).contains("/") && !origin.contains("*")
                if valid {
                    cors.origins.insert(origin.lowercased())  // as browsers send it: scheme and host in lowercase
                } else {
                    reader.error(at: element, "cors.origins: '\(origin)' is not an origin like https://app.example or http://localhost:5173 (no path, no wildcard)")
                }
            }
        }
    }

    /// `key` with the algorithm its type implies when it names none: jwt-kit would take the one of the first token
    /// that names the key's `kid`, whoever sent it, and keep it, so that one forged token could make every real one
    /// fail. RSA: RS256, which OpenID providers that publish no `alg` (Microsoft Entra) sign with; EC: ES256, ES384 or
    /// ES512 by its curve; OKP: EdDSA. A JWKS whose RSA keys sign with another algorithm says so with `alg`.
    static func withAlgorithm(_ key: JWK) -> JWK {
        guard key.algorithm == nil else { return key }
        var pinned = key
        switch key.keyType {
        case .rsa: pinned.algorithm = .rs256
        case .ecdsa:
            switch key.curve?.rawValue {
            case "P-256": pinned.algorithm = .es256
            case "P-384": pinned.algorithm = .es384
            case "P-521": pinned.algorithm = .es512
            default: break
            }
        case .octetKeyPair: pinned.algorithm = .eddsa
        default: break
        }
        return pinned
    }

    /// Why a JSON document did not decode, by where in it: never the document's text (a JWKS may hold an HMAC key).
    static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.isEmpty ? "the document" : context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error as? DecodingError {
        case .dataCorrupted(let context)?:
            return context.codingPath.isEmpty ? "it is not valid JSON" : "\(path(context)) has a value that cannot be used"
        case .keyNotFound(let key, let context)?:
            return "\(path(context)) has no \"\(key.stringValue)\""
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            return "\(path(context)) has a value of the wrong type"
        default:
            return "\(error)"
        }
    }

    /// A JWKS document without its encryption keys (`"use": "enc"`): an identity provider's document often lists them
    /// beside its signing keys, of kinds no signature uses (X25519), and one key the decoder cannot read refused the
    /// whole document. A document that is not such JSON is given back as it is, for the decoder to say why.
    static func signingKeys(ofJWKS text: String) -> Data {
        let data = Data(text.utf8)
        guard var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let keys = object["keys"] as? [Any] else {
            return data
        }
        object["keys"] = keys.filter { (($0 as? [String: Any])?["use"] as? String) != "enc" }
        return (try? JSONSerialization.data(withJSONObject: object)) ?? data
    }
}
