import Yams
import Foundation

/// The shape of the config file: which keys exist, their types, and how they compile.
struct ConfigSchema {
    let reader: ConfigReader
    let environment: [String: String]
    let configDirectory: String

    func read(_ root: Node, into config: inout Configuration) {
        guard let top = reader.mapping(root, "the config file") else { return }
        for (key, _, value) in reader.entries(top, allowed: ["server", "streams", "store", "auth", "sources", "rules"], in: "the config file") {
            switch key {
            case "server": readServer(value, into: &config.server)
            case "streams": readStreams(value, into: &config.streams)
            case "store": readStore(value, into: &config.store)
            case "auth": readAuth(value, into: &config)
            case "sources": readSources(value, into: &config)
            case "rules": readRules(value, into: &config)
            default: break
            }
        }
        crossCheck(&config, root: top)
    }

    private func readServer(_ node: Node, into server: inout Configuration.Server) {
        guard let m = reader.mapping(node, "server") else { return }
        for (key, _, value) in reader.entries(m, allowed: ["listen", "unix_socket", "limits", "event_loop_threads"], in: "server") {
            switch key {
            case "listen":
                guard let text = reader.string(value, "server.listen") else { continue }
                if let address = ListenAddress(parsing: text) {
                    server.listen = address
                } else {
                    reader.error(at: value, "server.listen must be HOST:PORT (like 127.0.0.1:8080), found '\(text)'")
                }
            case "unix_socket":
                if ConfigReader.isNull(value) { server.unixSocket = nil; continue }
                if case .scalar = value {
                    if let path = reader.string(value, "server.unix_socket") { server.unixSocket = .init(path: path) }
                    continue
                }
                guard let sm = reader.mapping(value, "server.unix_socket") else { continue }
                var socket = Configuration.UnixSocket(path: "")
                var hasPath = false
                for (k, _, v) in reader.entries(sm, allowed: ["path", "mode", "line_bytes"], in: "server.unix_socket") {
                    switch k {
                    case "path":
                        if let p = reader.string(v, "server.unix_socket.path") { socket.path = p; hasPath = !p.isEmpty }
                    case "mode":
                        guard let text = reader.string(v, "server.unix_socket.mode") else { continue }
                        if let mode = UInt32(text, radix: 8), mode <= 0o777 {
                            socket.mode = mode
                        } else {
                            reader.error(at: v, "server.unix_socket.mode must be an octal file mode like \"0660\", found '\(text)'")
                        }
                    case "line_bytes":
                        if let n = reader.byteSize(v, "server.unix_socket.line_bytes", range: 64...(64 << 20)) { socket.lineLimit = n }
                    default: break
                    }
                }
                if !hasPath { reader.error(at: value, "server.unix_socket needs a path") }
                server.unixSocket = socket
            case "limits":
                guard let lm = reader.mapping(value, "server.limits") else { continue }
                for (k, _, v) in reader.entries(lm, allowed: ["body_bytes"], in: "server.limits") where k == "body_bytes" {
                    if let n = reader.byteSize(v, "server.limits.body_bytes", range: 1...(256 << 20)) { server.bodyLimit = n }
                }
            case "event_loop_threads":
                if let n = reader.int(value, "server.event_loop_threads", range: 1...256) { server.eventLoopThreads = n }
            default: break
            }
        }
    }

    private func readStreams(_ node: Node, into streams: inout Configuration.Streams) {
        guard let m = reader.mapping(node, "streams") else { return }
        for (key, _, value) in reader.entries(m, allowed: ["heartbeat", "retry", "queue"], in: "streams") {
            switch key {
            case "heartbeat":
                if let d = reader.duration(value, "streams.heartbeat", minimum: .milliseconds(10)) { streams.heartbeat = d }
            case "retry":
                if let d = reader.duration(value, "streams.retry") { streams.retry = d }
            case "queue":
                if let n = reader.int(value, "streams.queue", range: 1...1_000_000) { streams.queue = n }
            default: break
            }
        }
    }

    private func readStore(_ node: Node, into store: inout Configuration.Store) {
        guard let m = reader.mapping(node, "store") else { return }
        for (key, _, value) in reader.entries(m, allowed: ["kind", "path", "sync", "retention"], in: "store") {
            switch key {
            case "kind":
                guard let text = reader.string(value, "store.kind") else { continue }
                if let kind = Configuration.Store.Kind(rawValue: text) {
                    store.kind = kind
                } else {
                    let known = Configuration.Store.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                    reader.error(at: value, "store.kind '\(text)' is not supported (supported: \(known))")
                }
            case "path":
                guard let text = reader.string(value, "store.path") else { continue }
                switch EnvironmentExpansion.expand(text, environment: environment) {
                case .success(let path) where !path.isEmpty: store.path = path
                case .success: reader.error(at: value, "store.path is empty")
                case .failure(let error): reader.error(at: value, "store.path: \(error.message)")
                }
            case "sync":
                guard let text = reader.string(value, "store.sync") else { continue }
                if let mode = SQLiteEventStore.Synchronous(rawValue: text) {
                    store.synchronous = mode
                } else {
                    reader.error(at: value, "store.sync must be normal (survives a crash of the process) or full (survives power loss), found '\(text)'")
                }
            case "retention":
                guard let rm = reader.mapping(value, "store.retention") else { continue }
                for (k, _, v) in reader.entries(rm, allowed: ["max_events_per_topic", "max_age", "interval"], in: "store.retention") {
                    switch k {
                    case "max_events_per_topic":
                        if let n = reader.int(v, "store.retention.max_events_per_topic", range: 1...100_000_000) {
                            store.retention.maxEventsPerTopic = n
                        }
                    case "max_age":
                        if ConfigReader.isNull(v) {
                            store.retention.maxAge = nil
                        } else if let d = reader.duration(v, "store.retention.max_age", minimum: .seconds(1)) {
                            store.retention.maxAge = d
                        }
                    case "interval":
                        if let d = reader.duration(v, "store.retention.interval", minimum: .milliseconds(10)) { store.pruneInterval = d }
                    default: break
                    }
                }
            default: break
            }
        }
    }

    private func readAuth(_ node: Node, into config: inout Configuration) {
        guard let m = reader.mapping(node, "auth") else { return }
        for (key, _, value) in reader.entries(m, allowed: ["tokens"], in: "auth") where key == "tokens" {
            guard case .sequence(let seq) = value else {
                if !ConfigReader.isNull(value) { reader.error(at: value, "auth.tokens must be a list, found \(reader.kind(of: value))") }
                continue
            }
            var names: Set<String> = []
            for (i, element) in seq.enumerated() {
                let what = "auth.tokens[\(i)]"
                guard let tm = reader.mapping(element, what) else { continue }
                var name: String?
                var secret: String?
                var subscribe: [TopicPattern] = []
                var publish: [TopicPattern] = []
                for (k, keyNode, v) in reader.entries(tm, allowed: ["name", "secret", "subscribe", "publish"], in: what) {
                    switch k {
                    case "name":
                        name = reader.string(v, "\(what).name")
                        if let n = name, !names.insert(n).inserted { reader.error(at: v, "duplicate token name '\(n)'") }
                    case "secret": secret = readSecret(v, "\(what).secret")
                    case "subscribe": subscribe = readPatterns(v, "\(what).subscribe")
                    case "publish": publish = readPatterns(v, "\(what).publish")
                    default: _ = keyNode
                    }
                }
                if name == nil && tm["name"] == nil { reader.error(at: element, "\(what) needs a name") }
                if tm["secret"] == nil { reader.error(at: element, "\(what) needs a secret") }
                if let name, let secret {
                    config.tokens.append(AccessToken(name: name, secret: secret, subscribe: TopicFilter(subscribe), publish: TopicFilter(publish)))
                }
            }
        }
    }

    /// A secret: a string, or `{ value: ... }`, `{ env: NAME }`, `{ file: PATH }`.
    private func readSecret(_ node: Node, _ what: String) -> String? {
        var secret: String?
        if case .scalar = node {
            secret = reader.string(node, what)
        } else if let m = reader.mapping(node, what) {
            let entries = reader.entries(m, allowed: ["value", "env", "file"], in: what)
            guard entries.count == 1, let (kind, _, value) = entries.first else {
                if entries.count != 1 { reader.error(at: node, "\(what) must have exactly one of value, env, file") }
                return nil
            }
            guard let text = reader.string(value, "\(what).\(kind)") else { return nil }
            switch kind {
            case "value": secret = text
            case "env":
                guard let v = environment[text] else {
                    reader.error(at: value, "environment variable \(text) (for \(what)) is not set")
                    return nil
                }
                secret = v
            case "file":
                let path = text.hasPrefix("/") ? text : (configDirectory.isEmpty ? text : configDirectory + "/" + text)
                guard let data = FileManager.default.contents(atPath: path), let s = String(data: data, encoding: .utf8) else {
                    reader.error(at: value, "cannot read the secret file '\(path)' (for \(what))")
                    return nil
                }
                secret = String(s.reversed().drop(while: { $0 == "\n" || $0 == "\r" }).reversed())
            default: break
            }
        }
        if let s = secret, s.isEmpty {
            reader.error(at: node, "\(what) must not be empty")
            return nil
        }
        return secret
    }

    private func readPatterns(_ node: Node, _ what: String) -> [TopicPattern] {
        guard let list = reader.stringList(node, what) else { return [] }
        var patterns: [TopicPattern] = []
        for (text, element) in list {
            do {
                patterns.append(try TopicPattern(text))
            } catch {
                reader.error(at: element, "\(what): \(error)")
            }
        }
        return patterns
    }

    private func readSources(_ node: Node, into config: inout Configuration) {
        guard let m = reader.mapping(node, "sources") else { return }
        for (name, keyNode, value) in reader.entries(m, allowed: nil, in: "sources") {
            if !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) || name.isEmpty {
                reader.error(at: keyNode, "source name '\(name)' may use only letters, digits, '-' and '_'")
                continue
            }
            var kind = Configuration.Source.Kind.webhook
            if let sm = reader.mapping(value, "sources.\(name)") {
                for (k, _, v) in reader.entries(sm, allowed: ["unix_socket"], in: "sources.\(name)") where k == "unix_socket" {
                    if reader.bool(v, "sources.\(name).unix_socket") == true { kind = .unixSocket }
                }
            }
            config.sources[name] = .init(name: name, kind: kind)
        }
        let socketSources = config.sources.values.filter { $0.kind == .unixSocket }.map(\.name).sorted()
        if socketSources.count > 1 {
            reader.error(at: node, "only one source may have unix_socket: true (found: \(socketSources.joined(separator: ", ")))")
        }
    }

    private func readRules(_ node: Node, into config: inout Configuration) {
        guard case .sequence(let seq) = node else {
            if !ConfigReader.isNull(node) { reader.error(at: node, "rules must be a list, found \(reader.kind(of: node))") }
            return
        }
        var seen: [String: Node] = [:]
        for (i, element) in seq.enumerated() {
            let what = "rules[\(i)]"
            guard let rm = reader.mapping(element, what) else { continue }
            var name: String?
            var source: String?
            var sourceNode: Node?
            var conditions: [RuleCondition] = []
            var allowed: TopicFilter?
            var publish: (topic: Template, type: Template, data: DataTemplate)?
            for (k, _, v) in reader.entries(rm, allowed: ["name", "source", "when", "allow_topics", "publish"], in: what) {
                switch k {
                case "name":
                    name = reader.string(v, "\(what).name")
                    if let n = name {
                        if let first = seen[n] {
                            let line = first.mark.map { " (first defined at line \($0.line))" } ?? ""
                            reader.error(at: v, "duplicate rule name '\(n)'\(line)")
                        } else {
                            seen[n] = v
                        }
                    }
                case "source":
                    source = reader.string(v, "\(what).source")
                    sourceNode = v
                case "when": conditions = readConditions(v, "\(what).when")
                case "allow_topics": allowed = TopicFilter(readPatterns(v, "\(what).allow_topics"))
                case "publish": publish = readPublish(v, "\(what).publish")
                default: break
                }
            }
            let label = name.map { "rule '\($0)'" } ?? what
            if rm["name"] == nil { reader.error(at: element, "\(what) needs a name") }
            if rm["source"] == nil { reader.error(at: element, "\(label) needs a source") }
            if rm["publish"] == nil { reader.error(at: element, "\(label) needs a publish: { topic: ... }") }
            if let source, config.sources[source] == nil {
                let known = config.sources.keys.sorted().joined(separator: ", ")
                reader.error(at: sourceNode, "\(label) names source '\(source)', which is not declared under sources (declared: \(known.isEmpty ? "none" : known))")
            }
            if let name, let source, let publish {
                config.rules.append(
                    Rule(name: name, source: source, conditions: conditions, topic: publish.topic, type: publish.type,
                         data: publish.data, allowedTopics: allowed))
            }
        }
    }

    private func readConditions(_ node: Node, _ what: String) -> [RuleCondition] {
        guard let m = reader.mapping(node, what) else { return [] }
        var conditions: [RuleCondition] = []
        for (path, keyNode, value) in reader.entries(m, allowed: nil, in: what) {
            let components = path.split(separator: ".", omittingEmptySubsequences: false)
            if components.contains(where: \.isEmpty) {
                reader.error(at: keyNode, "'\(path)' in \(what) is not a path like body.action")
                continue
            }
            switch value {
            case .scalar(let s):
                conditions.append(RuleCondition(path: path, test: .oneOf([s.string])))
            case .sequence:
                if let list = reader.stringList(value, "\(what).\(path)") {
                    conditions.append(RuleCondition(path: path, test: .oneOf(list.map(\.0))))
                }
            case .mapping(let tm):
                for (op, _, v) in reader.entries(tm, allowed: ["in", "exists"], in: "\(what).\(path)") {
                    if op == "in", let list = reader.stringList(v, "\(what).\(path).in") {
                        conditions.append(RuleCondition(path: path, test: .oneOf(list.map(\.0))))
                    } else if op == "exists", let b = reader.bool(v, "\(what).\(path).exists") {
                        conditions.append(RuleCondition(path: path, test: .exists(b)))
                    }
                }
            case .alias:
                reader.error(at: value, "aliases are not supported in \(what)")
            }
        }
        return conditions
    }

    private func readPublish(_ node: Node, _ what: String) -> (topic: Template, type: Template, data: DataTemplate)? {
        guard let m = reader.mapping(node, what) else { return nil }
        var topic: Template?
        var type: Template? = try? Template("message")
        var data: DataTemplate? = (try? Template("{{ body }}")).map(DataTemplate.template)
        for (k, _, v) in reader.entries(m, allowed: ["topic", "event", "data"], in: what) {
            switch k {
            case "topic":
                topic = readTemplate(v, "\(what).topic")
                if let t = topic { checkTopicTemplate(t, at: v, what: "\(what).topic") }
            case "event": type = readTemplate(v, "\(what).event")
            case "data": data = readDataTemplate(v, "\(what).data")
            default: break
            }
        }
        if m["topic"] == nil { reader.error(at: node, "\(what) needs a topic") }
        guard let topic, let type, let data else { return nil }
        return (topic, type, data)
    }

    private func readTemplate(_ node: Node, _ what: String) -> Template? {
        guard let text = reader.string(node, what) else { return nil }
        do {
            return try Template(text)
        } catch {
            reader.error(at: node, "\(what): \(error.message)")
            return nil
        }
    }

    /// The literal parts of a topic template must be usable in a topic.
    private func checkTopicTemplate(_ template: Template, at node: Node, what: String) {
        if template.isLiteral, let problem = Topic.validationError(template.description) {
            reader.error(at: node, "\(what): \(problem)")
            return
        }
        for part in template.parts {
            guard case .literal(let text) = part else { continue }
            if text.contains("*") {
                reader.error(at: node, "\(what): a topic cannot contain '*' (wildcards belong in subscriptions)")
            } else if text.contains("//") || (text.hasPrefix("/") && part == template.parts.first)
                || (text.hasSuffix("/") && part == template.parts.last)
            {
                reader.error(at: node, "\(what): a topic cannot have an empty segment")
            } else if text.unicodeScalars.contains(where: { $0.properties.isWhitespace }) {
                reader.error(at: node, "\(what): a topic cannot contain whitespace")
            }
        }
    }

    private func readDataTemplate(_ node: Node, _ what: String) -> DataTemplate? {
        switch node {
        case .scalar(let s):
            if ConfigReader.isNull(node) { return .literal(.null) }
            if s.style == .plain, let value = try? JSONParser.parse(s.string) {
                if case .string = value {} else { return .literal(value) }
            }
            return readTemplate(node, what).map(DataTemplate.template)
        case .sequence(let seq):
            var elements: [DataTemplate] = []
            for (i, e) in seq.enumerated() {
                guard let t = readDataTemplate(e, "\(what)[\(i)]") else { return nil }
                elements.append(t)
            }
            return .array(elements)
        case .mapping(let m):
            var members: [(key: String, value: DataTemplate)] = []
            for (k, _, v) in reader.entries(m, allowed: nil, in: what) {
                guard let t = readDataTemplate(v, "\(what).\(k)") else { return nil }
                members.append((k, t))
            }
            return .object(members)
        case .alias:
            reader.error(at: node, "aliases are not supported in \(what)")
            return nil
        }
    }

    private func crossCheck(_ config: inout Configuration, root: Node.Mapping) {
        if config.server.unixSocket != nil, config.unixSocketSource == nil {
            reader.error(at: root["server"], "server.unix_socket is set, but no source has unix_socket: true to receive its lines")
        }
        if config.unixSocketSource != nil, config.server.unixSocket == nil {
            reader.error(at: root["sources"], "source '\(config.unixSocketSource!.name)' has unix_socket: true, but server.unix_socket is not set")
        }
    }
}
