import Yams
import Foundation

/// The shape of the config file: which keys exist, their types, and how they compile.
struct ConfigSchema {
    /// The parts of a webhook message a rule can read.
    static let webhookRoots = ["body", "header", "query", "form", "text", "method", "path", "source"]

    let reader: ConfigReader
    let environment: [String: String]
    let configDirectory: String

    func read(_ root: Node, into config: inout Configuration) {
        guard let top = reader.mapping(root, "the config file") else { return }
        var rules: Node?
        for (key, _, value) in reader.entries(top, allowed: ["server", "streams", "store", "auth", "cors", "sources", "rules"], in: "the config file") {
            switch key {
            case "server": readServer(value, into: &config.server)
            case "streams": readStreams(value, into: &config.streams)
            case "store": readStore(value, into: &config.store)
            case "auth": readAuth(value, into: &config)
            case "cors": readCORS(value, into: &config.cors)
            case "sources": readSources(value, into: &config)
            case "rules": rules = value
            default: break
            }
        }
        // Rules name sources, which the file may declare after them.
        if let rules { readRules(rules, into: &config) }
        crossCheck(&config, root: top)
    }

    private func readServer(_ node: Node, into server: inout Configuration.Server) {
        guard let m = reader.mapping(node, "server") else { return }
        for (key, _, value) in reader.entries(m, allowed: ["listen", "hosts", "unix_socket", "limits", "event_loop_threads", "tls"], in: "server") {
            switch key {
            case "listen":
                guard let text = reader.string(value, "server.listen") else { continue }
                if let address = ListenAddress(parsing: text) {
                    server.listen = address
                } else {
                    reader.error(at: value, "server.listen must be HOST:PORT (like 127.0.0.1:8080), found '\(text)'")
                }
            case "hosts":
                guard let list = reader.stringList(value, "server.hosts") else { continue }
                for (entry, element) in list where !server.hosts.add(entry) {
                    reader.error(at: element, "server.hosts: '\(entry)' is not a host name like events.example.com, *.example.com or * (no scheme, no port; a name in another script in its xn-- form)")
                }
            case "unix_socket":
                if ConfigReader.isNull(value) { server.unixSocket = nil; continue }
                if case .scalar = value {
                    if let path = reader.string(value, "server.unix_socket") {
                        checkSocketPathLength(path, at: value)
                        server.unixSocket = .init(path: path)
                    }
                    continue
                }
                guard let sm = reader.mapping(value, "server.unix_socket") else { continue }
                var socket = Configuration.UnixSocket(path: "")
                var hasPath = false
                for (k, _, v) in reader.entries(sm, allowed: ["path", "mode", "owner", "group", "line_bytes"], in: "server.unix_socket") {
                    switch k {
                    case "path":
                        if let p = reader.string(v, "server.unix_socket.path") {
                            checkSocketPathLength(p, at: v)
                            socket.path = p
                            hasPath = !p.isEmpty
                        }
                    case "mode":
                        guard let text = reader.string(v, "server.unix_socket.mode") else { continue }
                        if let mode = UInt32(text, radix: 8), mode <= 0o777 {
                            socket.mode = mode
                        } else {
                            reader.error(at: v, "server.unix_socket.mode must be an octal file mode like \"0660\", found '\(text)'")
                        }
                    case "owner":
                        socket.owner = readAccountID(v, "server.unix_socket.owner", kind: .user)
                    case "group":
                        socket.group = readAccountID(v, "server.unix_socket.group", kind: .group)
                    case "line_bytes":
                        if let n = reader.byteSize(v, "server.unix_socket.line_bytes", range: 64...(64 << 20)) { socket.lineLimit = n }
                    default: break
                    }
                }
                if !hasPath { reader.error(at: value, "server.unix_socket needs a path") }
                server.unixSocket = socket
            case "limits":
                guard let lm = reader.mapping(value, "server.limits") else { continue }
                var bufferedNode: Node?
                var bodyBytesRead = true
                for (k, _, v) in reader.entries(lm, allowed: ["body_bytes", "buffered_bodies", "replay_bytes", "request_timeout", "idle_timeout", "regex_steps", "h2_streams"], in: "server.limits") {
                    switch k {
                    case "body_bytes":
                        if let n = reader.byteSize(v, "server.limits.body_bytes", range: 1...(256 << 20)) { server.bodyLimit = n } else { bodyBytesRead = false }
                    case "buffered_bodies":
                        bufferedNode = v
                        if let n = reader.byteSize(v, "server.limits.buffered_bodies", range: 1...(64 << 30)) { server.bufferedBodiesLimit = n }
                    case "replay_bytes":
                        if let n = reader.byteSize(v, "server.limits.replay_bytes", range: (1 << 20)...(64 << 30)) { server.replayBytesLimit = n }
                    case "request_timeout":
                        if let d = reader.duration(v, "server.limits.request_timeout", minimum: .seconds(1)) { server.requestTimeout = d }
                    case "idle_timeout":
                        if let d = reader.duration(v, "server.limits.idle_timeout", minimum: .seconds(1)) { server.idleTimeout = d }
                    case "regex_steps":
                        if let n = reader.int(v, "server.limits.regex_steps", range: 10_000...1_000_000_000_000) { server.regexSteps = n }
                    case "h2_streams":
                        if let n = reader.int(v, "server.limits.h2_streams", range: 1...100_000) { server.http2Streams = n }
                    default: break
                    }
                }
                if let bufferedNode, bodyBytesRead, server.bufferedBodiesLimit < server.bodyLimit {
                    reader.error(
                        at: bufferedNode,
                        "server.limits.buffered_bodies (\(server.bufferedBodiesLimit) bytes) is less than server.limits.body_bytes (\(server.bodyLimit) bytes): a body of the largest size could never be accepted"
                    )
                }
            case "tls":
                server.tls = readTLS(value)
            case "event_loop_threads":
                if let n = reader.int(value, "server.event_loop_threads", range: 1...256) { server.eventLoopThreads = n }
            default: break
            }
        }
    }

    /// A socket path past ``Configuration/UnixSocket/longestPath`` could not be bound at start: a config error here.
    private func checkSocketPathLength(_ path: String, at node: Node) {
        let longest = Configuration.UnixSocket.longestPath
        guard path.utf8.count > longest else { return }
        reader.error(at: node, "server.unix_socket.path is \(path.utf8.count) bytes; a Unix socket path is at most \(longest): choose a shorter one")
    }

    private func readStreams(_ node: Node, into streams: inout Configuration.Streams) {
        guard let m = reader.mapping(node, "streams") else { return }
        for (key, _, value) in reader.entries(m, allowed: ["heartbeat", "retry", "queue", "drain"], in: "streams") {
            switch key {
            case "heartbeat":
                if let d = reader.duration(value, "streams.heartbeat", minimum: .milliseconds(10)) { streams.heartbeat = d }
            case "retry":
                if let d = reader.duration(value, "streams.retry") { streams.retry = d }
            case "queue":
                if let n = reader.int(value, "streams.queue", range: 1...1_000_000) { streams.queue = n }
            case "drain":
                if let d = reader.duration(value, "streams.drain", minimum: .milliseconds(1)) { streams.drain = d }
            default: break
            }
        }
    }

    private func readStore(_ node: Node, into store: inout Configuration.Store) {
        guard let m = reader.mapping(node, "store") else { return }
        var kindNode: Node?
        for (key, _, value) in reader.entries(m, allowed: ["kind", "path", "sync", "retention", "postgres"], in: "store") {
            switch key {
            case "kind":
                guard let text = reader.string(value, "store.kind") else { continue }
                if let kind = Configuration.Store.Kind(rawValue: text) {
                    store.kind = kind
                    kindNode = value
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
                for (k, _, v) in reader.entries(rm, allowed: ["max_events_per_topic", "max_events", "max_age", "interval"], in: "store.retention") {
                    switch k {
                    case "max_events_per_topic":
                        if let n = reader.int(v, "store.retention.max_events_per_topic", range: 1...100_000_000) {
                            store.retention.maxEventsPerTopic = n
                        }
                    case "max_events":
                        if ConfigReader.isNull(v) {
                            store.retention.maxEvents = nil
                        } else if let n = reader.int(v, "store.retention.max_events", range: 1...1_000_000_000) {
                            store.retention.maxEvents = n
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
            case "postgres":
                store.postgres = readPostgres(value)
            default: break
            }
        }
        if store.kind == .postgres, store.postgres == nil, let kindNode {
            reader.error(at: kindNode, "store.kind postgres needs store.postgres: { host: ..., user: ..., database: ... } (where the database is)")
        }
    }

    private func readPostgres(_ node: Node) -> PostgresStore? {
        guard let m = reader.mapping(node, "store.postgres") else { return nil }
        var postgres = PostgresStore()
        for (key, _, value) in reader.entries(m, allowed: ["host", "port", "user", "password", "database", "tls"], in: "store.postgres") {
            switch key {
            case "host", "user", "database":
                guard let text = reader.string(value, "store.postgres.\(key)") else { continue }
                guard !text.isEmpty, !text.contains("\0") else {
                    reader.error(at: value, "store.postgres.\(key) must not be empty")
                    continue
                }
                switch key {
                case "host": postgres.host = text
                case "user": postgres.user = text
                default: postgres.database = text
                }
            case "port":
                if let n = reader.int(value, "store.postgres.port", range: 1...65_535) { postgres.port = n }
            case "password":
                if let secret = readSecret(value, "store.postgres.password") { postgres.password = secret }
            case "tls":
                guard let text = reader.string(value, "store.postgres.tls") else { continue }
                if let mode = PostgresStore.TLSMode(rawValue: text) {
                    postgres.tls = mode
                } else {
                    reader.error(at: value, "store.postgres.tls must be disable, prefer or require, found '\(text)'")
                }
            default: break
            }
        }
        if postgres.usesUnixSocket, postgres.unixSocketPath.utf8.count > 107 {
            reader.error(at: node, "store.postgres.host: the socket path '\(postgres.unixSocketPath)' is longer than a Unix socket address allows (107 bytes)")
        }
        // With errors reported, the file is refused; the value only spares a second message about its absence.
        return postgres
    }

    func readPatterns(_ node: Node, _ what: String) -> [TopicPattern] {
        guard let list = reader.stringList(node, what) else { return [] }
        var patterns: [TopicPattern] = []
        for (text, element) in list {
            // A pattern here is matched as written: `users/{sub}/**` under a static token would grant a topic named
            // `{sub}`, which no one publishes to.
            if let lookalike = Template.lookalikePlaceholder(in: text) {
                reader.error(
                    at: element,
                    lookalike == "{sub}"
                        ? "\(what): '{sub}' stands for a JWT's subject (auth.jwt.subscribe and publish); here the pattern is matched as written: name the topics"
                        : "\(what): '\(lookalike)' is no placeholder: a pattern here is matched as written")
                // Kept (the file is refused anyway), so that checks against the pattern say nothing more about it.
            }
            do {
                patterns.append(try TopicPattern(text))
            } catch {
                reader.error(at: element, "\(what): \(error)")
            }
        }
        return patterns
    }

    private func crossCheck(_ config: inout Configuration, root: Node.Mapping) {
        // Paths in rules are checked against what their source's messages have, now that every source is known.
        for use in reader.pathUses {
            guard let source = config.sources[use.source], source.kind == .webhook else { continue }
            let root = String(use.path.root)
            if !ConfigSchema.webhookRoots.contains(root) {
                reader.error(
                    at: use.node,
                    "'\(use.path)' starts at '\(root)', which a webhook message does not have (it has: \(ConfigSchema.webhookRoots.joined(separator: ", ")))")
            }
        }
        if config.server.unixSocket != nil, config.unixSocketSource == nil {
            reader.error(at: root["server"], "server.unix_socket is set, but no source has unix_socket: true to receive its lines")
        }
        if config.unixSocketSource != nil, config.server.unixSocket == nil {
            reader.error(at: root["sources"], "source '\(config.unixSocketSource!.name)' has unix_socket: true, but server.unix_socket is not set")
        }
    }
}
