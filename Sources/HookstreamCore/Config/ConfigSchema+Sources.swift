import Yams

extension ConfigSchema {
    /// `sources:`: each a webhook endpoint (`POST /hooks/<name>`) or the Unix socket's lines.
    ///
    /// ```yaml
    /// sources:
    ///   github:
    ///     verify: { github: { secret: { env: GITHUB_WEBHOOK_SECRET } } }
    ///   partner:
    ///     verify: { hmac: { header: X-Signature, algorithm: sha512, encoding: base64, secret: [...] } }
    ///     dedupe: { header: X-Request-Id, window: 1h }
    ///   local:
    ///     unix_socket: true
    ///     allow_uids: [0, 1000]
    /// ```
    func readSources(_ node: Node, into config: inout Configuration) {
        guard let m = reader.mapping(node, "sources") else { return }
        for (name, keyNode, value) in reader.entries(m, allowed: nil, in: "sources") {
            if !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) || name.isEmpty {
                reader.error(at: keyNode, "source name '\(name)' may use only letters, digits, '-' and '_'")
                continue
            }
            let what = "sources.\(name)"
            var source = Configuration.Source(name: name, kind: .webhook)
            var dedupe: (location: DeliveryIDLocation?, node: Node)?
            var dedupeNodes: (key: Node, value: Node)?
            var socketOnly: [(String, Node)] = []
            var webhookOnly: [(String, Node)] = []
            if let sm = reader.mapping(value, what) {
                let allowed = ["unix_socket", "verify", "dedupe", "rate_limit", "allow_uids", "allow_gids"]
                for (k, kn, v) in reader.entries(sm, allowed: allowed, in: what) {
                    switch k {
                    case "unix_socket":
                        if reader.bool(v, "\(what).unix_socket") == true { source.kind = .unixSocket }
                    case "verify":
                        source.verifier = readVerify(v, "\(what).verify")
                    case "dedupe":
                        dedupeNodes = (kn, v)  // after verify, whose preset it may refine
                    case "rate_limit":
                        source.rateLimit = readRateLimit(v, "\(what).rate_limit")
                        webhookOnly.append((k, kn))
                    case "allow_uids":
                        source.allowedUIDs = readAccountIDs(v, "\(what).allow_uids", kind: .user)
                        socketOnly.append((k, kn))
                    case "allow_gids":
                        source.allowedGIDs = readAccountIDs(v, "\(what).allow_gids", kind: .group)
                        socketOnly.append((k, kn))
                    default: break
                    }
                }
            }
            if let (key, value) = dedupeNodes {
                dedupe = readDedupe(value, "\(what).dedupe", into: &source).map { ($0, key) }
            }
            if source.kind == .webhook {
                for (key, keyNode) in socketOnly {
                    reader.error(at: keyNode, "\(what).\(key) applies to the Unix socket's source only (unix_socket: true)")
                }
                // A preset knows where its provider puts the delivery id; `dedupe:` overrides it or turns it off.
                source.deliveryID = dedupe.map(\.location) ?? source.verifier?.scheme.deliveryID
            } else {
                if source.verifier != nil, case .mapping(let sm) = value, let verifyKey = sm.keys.first(where: { $0.string == "verify" }) {
                    reader.error(at: verifyKey, "\(what).verify applies to webhook sources; the Unix socket's peers are checked with allow_uids and allow_gids")
                }
                if let dedupe { reader.error(at: dedupe.node, "\(what).dedupe applies to webhook sources") }
                for (key, keyNode) in webhookOnly { reader.error(at: keyNode, "\(what).\(key) applies to webhook sources") }
                source.verifier = nil
                source.rateLimit = nil
            }
            config.sources[name] = source
        }
        let socketSources = config.sources.values.filter { $0.kind == .unixSocket }.map(\.name).sorted()
        if socketSources.count > 1 {
            reader.error(at: node, "only one source may have unix_socket: true (found: \(socketSources.joined(separator: ", ")))")
        }
    }

    /// `rate_limit: 20/s`, or `{ rate: 600/m, burst: 50 }` (the burst is a second's worth, at least 1, by default).
    private func readRateLimit(_ node: Node, _ what: String) -> RateLimit? {
        func rate(_ node: Node, _ what: String) -> (perSecond: Double, text: String)? {
            guard let text = reader.string(node, what) else { return nil }
            guard let perSecond = RateLimit.perSecond(parsing: text) else {
                reader.error(at: node, "\(what) must be a rate like 20/s, 600/m or 1000/h (from 1 to 1000000000 per unit), found '\(text)'")
                return nil
            }
            return (perSecond, text)
        }
        func defaultBurst(_ perSecond: Double) -> Int { max(1, Int(min(perSecond.rounded(.up), 1_000_000))) }
        if case .scalar = node {
            return rate(node, what).map { RateLimit(perSecond: $0.perSecond, burst: defaultBurst($0.perSecond), text: $0.text) }
        }
        guard let m = reader.mapping(node, what) else { return nil }
        var parsed: (perSecond: Double, text: String)?
        var burst: Int?
        var hasRate = false
        for (k, _, v) in reader.entries(m, allowed: ["rate", "burst"], in: what) {
            switch k {
            case "rate":
                hasRate = true
                parsed = rate(v, "\(what).rate")
            case "burst":
                burst = reader.int(v, "\(what).burst", range: 1...1_000_000)
            default: break
            }
        }
        if !hasRate { reader.error(at: node, "\(what) needs a rate, like { rate: 20/s, burst: 50 }") }
        guard let parsed else { return nil }
        return RateLimit(perSecond: parsed.perSecond, burst: burst ?? defaultBurst(parsed.perSecond), text: parsed.text)
    }

    /// `verify: { <preset>: { secret: ..., ... } }`.
    private func readVerify(_ node: Node, _ what: String) -> WebhookVerifier? {
        guard let m = reader.mapping(node, what) else { return nil }
        let presets = reader.entries(m, allowed: SignatureScheme.presetNames, in: what)
        guard presets.count == 1, let (preset, _, settingsNode) = presets.first else {
            if presets.count > 1 || m.count == 0 {
                reader.error(at: node, "\(what) must name exactly one of \(SignatureScheme.presetNames.joined(separator: ", "))")
            }
            return nil
        }
        let where_ = "\(what).\(preset)"
        guard let settings = reader.mapping(settingsNode, where_) else { return nil }
        var allowed = ["secret"]
        switch preset {
        case "stripe", "slack", "standard-webhooks": allowed.append("tolerance")
        case "hmac": allowed += ["header", "algorithm", "encoding", "prefix"]
        default: break
        }
        var secrets: [String]?
        var secretNode: Node?
        var tolerance = SignatureScheme.defaultTolerance
        var hmac = SignatureScheme.GenericHMAC(header: "")
        var hasHeader = false
        for (k, _, v) in reader.entries(settings, allowed: allowed, in: where_) {
            switch k {
            case "secret":
                secrets = readSecrets(v, "\(where_).secret")
                secretNode = v
            case "tolerance":
                if let d = reader.duration(v, "\(where_).tolerance", minimum: .seconds(1)) { tolerance = d }
            case "header":
                if let h = reader.string(v, "\(where_).header") {
                    if h.isEmpty || h.contains(where: { $0 == ":" || $0 == " " || !$0.isASCII }) {
                        reader.error(at: v, "\(where_).header must be a header name like X-Signature, found '\(h)'")
                    } else {
                        hmac.header = h.lowercased()
                        hasHeader = true
                    }
                }
            case "algorithm":
                guard let text = reader.string(v, "\(where_).algorithm") else { continue }
                if let algorithm = HMACAlgorithm(rawValue: text.lowercased()) {
                    hmac.algorithm = algorithm
                } else {
                    reader.error(at: v, "\(where_).algorithm must be one of \(HMACAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")), found '\(text)'")
                }
            case "encoding":
                guard let text = reader.string(v, "\(where_).encoding") else { continue }
                if let encoding = SignatureScheme.GenericHMAC.Encoding(rawValue: text.lowercased()) {
                    hmac.encoding = encoding
                } else {
                    reader.error(at: v, "\(where_).encoding must be hex or base64, found '\(text)'")
                }
            case "prefix":
                if let p = reader.string(v, "\(where_).prefix") { hmac.prefix = p }
            default: break
            }
        }
        if settings["secret"] == nil { reader.error(at: settingsNode, "\(where_) needs a secret: \(ConfigSchema.secretForms), or a list of them") }
        if preset == "hmac" && !hasHeader && settings["header"] == nil {
            reader.error(at: settingsNode, "\(where_) needs the header that carries the signature (header: X-Signature)")
        }
        guard let secrets else { return nil }
        let scheme: SignatureScheme
        var keys = secrets.map { Array($0.utf8) }
        switch preset {
        case "github": scheme = .github
        case "gitlab": scheme = .gitlab
        case "stripe": scheme = .stripe(tolerance: tolerance)
        case "slack": scheme = .slack(tolerance: tolerance)
        case "standard-webhooks":
            scheme = .standardWebhooks(tolerance: tolerance)
            // Standard Webhooks secrets are `whsec_` and the base64 of the key.
            keys = []
            for secret in secrets {
                let encoded = secret.hasPrefix("whsec_") ? secret.dropFirst(6) : Substring(secret)
                guard let key = BinaryText.base64(encoded), !key.isEmpty else {
                    reader.error(at: secretNode, "\(where_).secret must be a Standard Webhooks secret: 'whsec_' and base64")
                    return nil
                }
                keys.append(key)
            }
        case "hmac":
            guard hasHeader else { return nil }
            scheme = .hmac(hmac)
        default: return nil
        }
        return WebhookVerifier(scheme: scheme, secrets: keys)
    }

    /// `dedupe: false`, `dedupe: { header: NAME }`, `dedupe: { path: body.id }`, with an optional `window`.
    /// Returns where the id is (`nil` for off), or `nil` altogether when there is nothing usable.
    private func readDedupe(_ node: Node, _ what: String, into source: inout Configuration.Source) -> DeliveryIDLocation?? {
        if case .scalar = node {
            if reader.bool(node, what) == false { return .some(nil) }
            reader.error(at: node, "\(what) must be false, or { header: NAME } or { path: body.id }, with an optional window")
            return nil
        }
        guard let m = reader.mapping(node, what) else { return nil }
        var location: DeliveryIDLocation?
        for (k, _, v) in reader.entries(m, allowed: ["header", "path", "window"], in: what) {
            switch k {
            case "header":
                if let h = reader.string(v, "\(what).header") { location = .header(h.lowercased()) }
            case "path":
                guard let text = reader.string(v, "\(what).path") else { continue }
                do {
                    let path = try ValuePath(text)
                    location = .path(path)
                    // Checked against what a webhook message has, with the rules' paths.
                    reader.pathUses.append((source.name, path, v))
                } catch {
                    reader.error(at: v, "\(what).path: \(error)")
                }
            case "window":
                if let d = reader.duration(v, "\(what).window", minimum: .seconds(1)) { source.deliveryWindow = d }
            default: break
            }
        }
        if m["header"] != nil && m["path"] != nil { reader.error(at: node, "\(what) takes a header or a path, not both") }
        if let location { return .some(location) }
        // Only a window: keep the preset's location.
        return source.verifier?.scheme.deliveryID.map { .some($0) } ?? {
            if m["header"] == nil && m["path"] == nil {
                reader.error(at: node, "\(what) needs a header or a path where the delivery id is (this source's verify preset has none)")
            }
            return nil
        }()
    }

    private func readAccountIDs(_ node: Node, _ what: String, kind: AccountKind) -> Set<UInt32>? {
        let elements: [Node]
        switch node {
        case .sequence(let list): elements = Array(list)
        case .scalar where !ConfigReader.isNull(node): elements = [node]
        default:
            reader.error(at: node, "\(what) must be a list of \(kind == .user ? "user" : "group") ids or names")
            return nil
        }
        var ids: Set<UInt32> = []
        for element in elements {
            if let id = readAccountID(element, "each entry of \(what)", kind: kind) { ids.insert(id) }
        }
        return ids
    }
}
