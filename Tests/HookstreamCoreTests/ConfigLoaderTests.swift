import Foundation
import Testing

@testable import HookstreamCore

@Suite struct ConfigLoaderTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func errors(_ yaml: String) -> [String] {
        do {
            _ = try ConfigLoader.parse(yaml, file: "test.yaml")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func theDefaultConfigLoadsWithItsDocumentedValues() throws {
        let config = try ConfigLoader.load(path: Self.packageRoot.appendingPathComponent("config/hookstream.yaml").path)
        #expect(config.server.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(config.server.unixSocket?.path == "./run/hookstream.sock")
        #expect(config.server.bodyLimit == 1 << 20)
        #expect(config.streams.heartbeat == .seconds(15))
        #expect(config.streams.queue == 1024)
        #expect(config.store.retention.maxEvents == 1_000_000)
        #expect(config.sources["demo"]?.kind == .webhook)
        #expect(config.unixSocketSource?.name == "local")
        #expect(config.tokens.map(\.name) == ["demo"])
        #expect(config.tokens.first?.secret == "demo-token")
        let demo = try #require(config.tokens.first)
        #expect(demo.subscribe.covers(try TopicPattern("demo/**")))
        #expect(demo.subscribe.covers(try TopicPattern("local/x")))
        #expect(!demo.subscribe.covers(try TopicPattern("other/x")))
    }

    @Test func theDemoRuleRoutesAsDocumented() throws {
        let config = try ConfigLoader.load(path: Self.packageRoot.appendingPathComponent("config/hookstream.yaml").path)
        let engine = RuleEngine(rules: config.rules)
        let withChannel = try engine.route(source: "demo", message: try JSONParser.parse(#"{"body":{"channel":"ops","type":"deploy"}}"#))
        #expect(withChannel.map(\.topic) == ["demo/ops"])
        #expect(withChannel.map(\.type) == ["deploy"])
        #expect(withChannel.first?.data == .json(#"{"channel":"ops","type":"deploy"}"#))
        let bare = try engine.route(source: "demo", message: try JSONParser.parse(#"{"body":{"x":1}}"#))
        #expect(bare.map(\.topic) == ["demo/general"])
        #expect(bare.map(\.type) == ["message"])
    }

    /// Bad input: a folder named as the config file. The message says so, not Foundation's error number.
    @Test func aFolderGivenAsTheConfigFileIsNamedAsSuch() throws {
        let folder = try TemporaryFolder.make("hookstream-config-folder")
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: folder.path) }
        do {
            _ = try ConfigLoader.load(path: folder.path)
        } catch {
            #expect(error.description.contains("it is a folder; name the config file in it"), "\(error)")
        }
    }

    /// Bad input: a config path where there is no file. Said in words, not Foundation's "The operation could not be
    /// completed".
    @Test func aMissingConfigFileIsSaidToBeMissing() throws {
        let folder = try TemporaryFolder.make("hookstream-config-missing")
        let path = folder.appendingPathComponent("nope.yaml").path
        do {
            _ = try ConfigLoader.load(path: path)
            Issue.record("loaded a file that does not exist")
        } catch {
            #expect(error.description == "\(path):1:1: error: cannot read the config file: no such file", "\(error)")
        }
    }

    @Test func syntaxErrorsHaveTheirPosition() {
        let found = errors("server:\n  listen: [1, 2\nstreams: {}\n")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("test.yaml:3:") == true, "\(found)")
        #expect(found.first?.contains(": error: YAML syntax:") == true)
    }

    /// Bad input: a tab in a line's indentation, which YAML does not allow (libyaml says "found character that cannot
    /// start any token", naming no character): the message says it is a tab.
    @Test func aTabInTheIndentationIsNamed() {
        for (yaml, position) in [("server:\n\tlisten: 127.0.0.1:8080\n", "2:1"), ("server:\n  limits:\n  \t body_bytes: 1MiB\n", "3:3")] {
            let found = errors(yaml)
            #expect(found.count == 1)
            #expect(found.first?.hasPrefix("test.yaml:\(position): error: YAML syntax: a tab, where YAML allows spaces only") == true, "\(found)")
        }
        // Any other character libyaml cannot start a token with keeps libyaml's words.
        #expect(errors("server:\n  listen: @x\n").first?.contains("a tab") == false)
    }

    /// Bad input: a control character (BEL) on a secret's line, which YAML's reader refuses. Yams' own message quotes
    /// the whole line; the diagnostic has the position and the problem only, so the secret reaches no log.
    @Test func unreadableCharactersAreReportedAtTheirPositionWithoutTheLine() {
        let found = errors("auth:\n  tokens:\n    - { name: a, secret: { value: s3cr3t-\u{07}-value } }\n")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("test.yaml:3:42: error: YAML: ") == true, "\(found)")
        #expect(found.first?.contains("control characters") == true, "\(found)")
        #expect(found.first?.contains("s3cr3t") == false, "\(found)")
    }

    /// Bad input: two tokens with one secret (the second's grants silently won). The second is an error at its
    /// secret, naming the first token and not the secret; the secret given as an environment variable counts too.
    @Test func twoTokensWithOneSecretAreAnError() {
        let found = errors(
            "auth:\n  tokens:\n    - { name: a, secret: { value: same-s3cr3t }, subscribe: [\"a/**\"] }\n    - { name: b, secret: { value: same-s3cr3t }, subscribe: [\"b/**\"] }\n")
        #expect(found == ["test.yaml:4:26: error: auth.tokens[1].secret is the secret of token 'a' too: each token needs a secret of its own"], "\(found)")
        #expect(!found.joined().contains("s3cr3t"))
        var viaEnvironment: [String] = []
        do {
            _ = try ConfigLoader.parse(
                "auth:\n  tokens:\n    - name: a\n      secret: { value: same-s3cr3t }\n    - secret: { env: HOOKSTREAM_TEST_SHARED }\n      name: c\n",
                file: "test.yaml", environment: ["HOOKSTREAM_TEST_SHARED": "same-s3cr3t"])
        } catch {
            viaEnvironment = error.diagnostics.map(\.description)
        }
        #expect(viaEnvironment == ["test.yaml:5:15: error: auth.tokens[1].secret is the secret of token 'a' too: each token needs a secret of its own"], "\(viaEnvironment)")
        #expect(errors("auth:\n  tokens:\n    - { name: a, secret: { value: one } }\n    - { name: b, secret: { value: two } }\n").isEmpty)
    }

    /// Bad input: a key given twice in one mapping. The parser marks the first; the message says the second is below.
    @Test func aRepeatedKeyIsReportedAtItsFirstOccurrenceSayingItComesAgain() {
        let found = errors("streams:\n  heartbeat: 15s\n  retry: 3s\n  heartbeat: 20s\n")
        #expect(found == [
            "test.yaml:2:3: error: duplicate key 'heartbeat' in a mapping: it is here, and again further down in the same mapping; keep one"
        ], "\(found)")
    }

    @Test func unknownKeysAreReportedAtTheKey() {
        let found = errors("server:\n  listen: 127.0.0.1:1\n  lisen: 1\n")
        #expect(found == ["test.yaml:3:3: error: unknown key 'lisen' in server (expected one of: listen, hosts, unix_socket, limits, event_loop_threads, tls)"])
    }

    @Test func wrongTypesAreReportedAtTheValue() {
        let found = errors("streams:\n  queue: lots\n  heartbeat: soon\n")
        #expect(found == [
            "test.yaml:2:10: error: streams.queue must be an integer, found 'lots'",
            "test.yaml:3:14: error: streams.heartbeat must be a duration like 500ms, 15s, 2m, 1h or 7d, found 'soon'",
        ])
    }

    /// Bad input: a duration and a size that a number can spell but no timer or integer can hold, and a duration
    /// that is not a number at all. Each is refused at its value (they used to crash the daemon, on a reload too).
    @Test func valuesPastWhatTheDaemonCanHoldAreRefused() {
        let found = errors("streams:\n  heartbeat: 1e10\n  retry: inf\nserver: { limits: { body_bytes: 1e30KiB } }\n")
        #expect(found.count == 3, "\(found)")
        #expect(found.contains("test.yaml:2:14: error: streams.heartbeat must be at most 36500d (100 years), found '1e10'"), "\(found)")
        #expect(found.contains("test.yaml:3:10: error: streams.retry must be a duration like 500ms, 15s, 2m, 1h or 7d, found 'inf'"), "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:4:") && $0.contains("server.limits.body_bytes must be between") }, "\(found)")
    }

    /// The connection timeouts: read as durations, with their defaults; bad input: one under the once-a-second
    /// check's resolution and one that is no duration.
    @Test func connectionTimeouts() throws {
        let defaults = try ConfigLoader.parse("sources: { demo: {} }\n", file: "test.yaml")
        #expect(defaults.server.requestTimeout == .seconds(30))
        #expect(defaults.server.idleTimeout == .seconds(60))
        let set = try ConfigLoader.parse("server: { limits: { request_timeout: 5s, idle_timeout: 2m } }\n", file: "test.yaml")
        #expect(set.server.requestTimeout == .seconds(5))
        #expect(set.server.idleTimeout == .seconds(120))
        let found = errors("server:\n  limits:\n    request_timeout: 200ms\n    idle_timeout: soon\n")
        #expect(found.contains("test.yaml:3:22: error: server.limits.request_timeout must be at least 1s, found '200ms'"), "\(found)")
        #expect(found.contains("test.yaml:4:19: error: server.limits.idle_timeout must be a duration like 500ms, 15s, 2m, 1h or 7d, found 'soon'"), "\(found)")
        #expect(found.count == 2, "\(found)")
    }

    /// `server.limits.buffered_bodies`; bad input: a size that is no size, and a budget smaller than one body of
    /// the largest size (which could then never be accepted).
    @Test func bufferedBodies() throws {
        #expect(try ConfigLoader.parse("sources: { demo: {} }\n", file: "test.yaml").server.bufferedBodiesLimit == 256 << 20)
        let set = try ConfigLoader.parse("server: { limits: { body_bytes: 2MiB, buffered_bodies: 1GiB } }\n", file: "test.yaml")
        #expect(set.server.bufferedBodiesLimit == 1 << 30)
        #expect(errors("server:\n  limits:\n    buffered_bodies: lots\n") == [
            "test.yaml:3:22: error: server.limits.buffered_bodies must be a size like 64KiB or 1MiB, found 'lots'"
        ])
        let small = errors("server:\n  limits:\n    body_bytes: 1MiB\n    buffered_bodies: 512KiB\n")
        #expect(small == [
            "test.yaml:4:22: error: server.limits.buffered_bodies (524288 bytes) is less than server.limits.body_bytes (1048576 bytes): a body of the largest size could never be accepted"
        ], "\(small)")
    }

    /// `server.limits.regex_steps`; bad input: a word, a float, and a limit below 10,000 steps.
    @Test func regexSteps() throws {
        #expect(try ConfigLoader.parse("sources: { demo: {} }\n", file: "test.yaml").server.regexSteps == 50_000_000)
        #expect(try ConfigLoader.parse("server: { limits: { regex_steps: 200_000_000 } }\n", file: "test.yaml").server.regexSteps == 200_000_000)
        let found = errors("server:\n  limits:\n    regex_steps: lots\n")
        #expect(found == ["test.yaml:3:18: error: server.limits.regex_steps must be an integer, found 'lots'"], "\(found)")
        #expect(errors("server: { limits: { regex_steps: 1.5e8 } }\n") == ["test.yaml:1:34: error: server.limits.regex_steps must be an integer, found '1.5e8'"])
        #expect(errors("server: { limits: { regex_steps: 500 } }\n") == [
            "test.yaml:1:34: error: server.limits.regex_steps must be between 10000 and 1000000000000, found 500"
        ])
    }

    /// `store.retention.max_events`: a million by default, `null` for none. Bad input: zero, and a word.
    @Test func maxEvents() throws {
        #expect(try ConfigLoader.parse("sources: { demo: {} }\n", file: "test.yaml").store.retention.maxEvents == 1_000_000)
        #expect(try ConfigLoader.parse("store: { retention: { max_events: 5000 } }\n", file: "test.yaml").store.retention.maxEvents == 5000)
        #expect(try ConfigLoader.parse("store: { retention: { max_events: null } }\n", file: "test.yaml").store.retention.maxEvents == nil)
        #expect(errors("store: { retention: { max_events: 0 } }\n") == [
            "test.yaml:1:35: error: store.retention.max_events must be between 1 and 1000000000, found 0"
        ])
        #expect(errors("store: { retention: { max_events: many } }\n") == ["test.yaml:1:35: error: store.retention.max_events must be an integer, found 'many'"])
    }

    /// `store.postgres`: defaults, a password from the environment (never in the location printed), a socket folder.
    /// Bad input: `kind: postgres` without it, a port out of range, an unknown TLS mode, an unset variable, a key
    /// that does not exist.
    @Test func postgresStore() throws {
        let yaml = "store:\n  kind: postgres\n  postgres: { host: db.internal, password: { env: PGPASS }, tls: require }\n"
        let store = try ConfigLoader.parse(yaml, file: "test.yaml", environment: ["PGPASS": "s3cret"]).store
        #expect(store.kind == .postgres)
        let postgres = try #require(store.postgres)
        #expect(postgres.password == "s3cret" && postgres.tls == .require && postgres.port == 5432 && postgres.user == "hookstream")
        #expect(postgres.location == "postgresql://hookstream@db.internal:5432/hookstream")
        #expect(!postgres.usesUnixSocket)
        let local = try ConfigLoader.parse("store: { kind: postgres, postgres: { host: /run/postgresql, database: events } }\n", file: "test.yaml")
        #expect(local.store.postgres?.unixSocketPath == "/run/postgresql/.s.PGSQL.5432")
        #expect(local.store.postgres?.location == "postgresql://hookstream@[/run/postgresql]:5432/events")
        #expect(errors("store: { kind: postgres }\n") == [
            "test.yaml:1:16: error: store.kind postgres needs store.postgres: { host: ..., user: ..., database: ... } (where the database is)"
        ])
        #expect(errors("store: { kind: postgres, postgres: { port: 70000, tls: sometimes, password: { env: NOPE }, sslmode: x } }\n") == [
            "test.yaml:1:92: error: unknown key 'sslmode' in store.postgres (expected one of: host, port, user, password, database, tls)",
            "test.yaml:1:44: error: store.postgres.port must be between 1 and 65535, found 70000",
            "test.yaml:1:56: error: store.postgres.tls must be disable, prefer or require, found 'sometimes'",
            "test.yaml:1:84: error: environment variable NOPE (for store.postgres.password) is not set",
        ])
    }

    /// `server.limits.h2_streams`; bad input: none, a negative count, and a word.
    @Test func http2Streams() throws {
        #expect(try ConfigLoader.parse("sources: { demo: {} }\n", file: "test.yaml").server.http2Streams == 128)
        #expect(try ConfigLoader.parse("server: { limits: { h2_streams: 16 } }\n", file: "test.yaml").server.http2Streams == 16)
        #expect(errors("server: { limits: { h2_streams: 0 } }\n") == ["test.yaml:1:33: error: server.limits.h2_streams must be between 1 and 100000, found 0"])
        #expect(errors("server: { limits: { h2_streams: -5 } }\n") == ["test.yaml:1:33: error: server.limits.h2_streams must be between 1 and 100000, found -5"])
        #expect(errors("server: { limits: { h2_streams: many } }\n") == ["test.yaml:1:33: error: server.limits.h2_streams must be an integer, found 'many'"])
    }

    /// `server.hosts`: the names a cleartext listener answers to besides `localhost` and IP addresses (DNS
    /// rebinding). Bad input: a name with a port, a URL, a wildcard inside a name, an empty entry, and a
    /// mapping where the list goes; every `Host` form a client may send is checked against the list.
    @Test func serverHosts() throws {
        let parsed = try ConfigLoader.parse(
            "server: { hosts: [Events.Example.com, \"*.example.net\", my_service] }\ncors: { origins: [\"https://App.Example:8443\"] }\n",
            file: "test.yaml")
        #expect(parsed.cors.origins == ["https://app.example:8443"], "origins are compared as browsers send them, in lowercase")
        #expect(parsed.server.hosts.names == ["events.example.com", "my_service"])
        #expect(parsed.server.hosts.suffixes == [".example.net"])
        let hosts = parsed.server.hosts.addingHosts(ofOrigins: parsed.cors.origins)
        for allowed in [
            "events.example.com", "EVENTS.example.com:8080", "events.example.com.", "a.example.net", "a.b.example.net:1", "app.example",
            "my_service:80", "localhost", "localhost:8080", " localhost ", "localhost\t", "app.localhost", "127.0.0.1:8080", "10.1.2.3", "127.0.0.1:", "1.2.3.4:65535", "[::1]:8080", "[fe80::1]", "[::ffff:127.0.0.1]", "",
        ] {
            #expect(hosts.allows(hostHeader: allowed), "\(allowed)")
        }
        for refused in [
            "example.net", "evil.test", "events.example.com.evil.test", "notexample.net", "localhost.evil.test", "127.0.0.1.evil.test",
            "1.2.3", "256.1.1.1", "events.example.com:80x", "events.example.com:8080:1", ":8080", "[::1", "[::1]x", "[evil.test]", "[::1]:80x",
            "127.0.0.1:65536", "127.0.0.1:000080", "1.2.3.4.5", "1.2.3.4:8080:1",
        ] {
            #expect(!hosts.allows(hostHeader: refused), "\(refused)")
        }
        // The one-pass check of an address with a port takes only what the whole check allows.
        for header in ["127.0.0.1", "127.0.0.1:8080", "10.1.2.3:", "0.0.0.0:0", "1.2.3.4:65535"] {
            #expect(HostAllowList.isIPv4WithPort(header) && HostAllowList().allows(hostHeader: header), "\(header)")
        }
        for header in ["127.0.0.1:65536", "127.0.0.1:000080", "1.2.3", "1.2.3.4.5", "256.1.1.1", " 127.0.0.1", "127.0.0.1:80x", ":80", "localhost:80"] {
            #expect(!HostAllowList.isIPv4WithPort(header), "\(header)")
        }
        // What a refusal suggests adding: a name, never a malformed value.
        #expect(HostAllowList.name(ofHostHeader: "rebind.test:8080") == "rebind.test")
        #expect(HostAllowList.name(ofHostHeader: "localhost   ") == "localhost")
        #expect(HostAllowList.name(ofHostHeader: "evil.test/x") == nil)
        #expect(HostAllowList.name(ofHostHeader: "x refused=0 [HookstreamServer] Config reloaded") == nil)
        #expect(parsed.server.hosts.allows(hostHeader: "app.example") == false, "an origin's host is added to the list in force, not to the setting")
        var any = HostAllowList()
        #expect(any.add("*") && any.allows(hostHeader: "anything.test:1") && !any.allows(hostHeader: "bad:port"))
        #expect(try ConfigLoader.parse("sources: { demo: {} }\n", file: "test.yaml").server.hosts == HostAllowList())
        let entry = "is not a host name like events.example.com, *.example.com or * (no scheme, no port; a name in another script in its xn-- form)"
        #expect(errors("server:\n  hosts: [ok.example, \"events.example.com:8080\", \"https://a.example\", \"a.*.example\", \"\"]\n") == [
            "test.yaml:2:23: error: server.hosts: 'events.example.com:8080' \(entry)",
            "test.yaml:2:50: error: server.hosts: 'https://a.example' \(entry)",
            "test.yaml:2:71: error: server.hosts: 'a.*.example' \(entry)",
            "test.yaml:2:86: error: server.hosts: '' \(entry)",
        ])
        #expect(errors("server: { hosts: { a: b } }\n") == ["test.yaml:1:18: error: server.hosts must be a list of strings, found a mapping"])
    }

    /// `rate_limit:` in its two forms; bad input: a rate without a unit, a mapping without a rate, a zero burst, a
    /// limit on the Unix socket's source, and a rate so slow that its wait would not fit a `Retry-After`.
    @Test func rateLimits() throws {
        let parsed = try ConfigLoader.parse(
            "sources:\n  a: { rate_limit: 20/s }\n  b: { rate_limit: { rate: 600/m, burst: 50 } }\n  c: { rate_limit: 1/h }\n  d: {}\n",
            file: "test.yaml")
        #expect(parsed.sources["a"]?.rateLimit == RateLimit(perSecond: 20, burst: 20, text: "20/s"))
        #expect(parsed.sources["b"]?.rateLimit == RateLimit(perSecond: 10, burst: 50, text: "600/m"))
        #expect(parsed.sources["c"]?.rateLimit?.burst == 1)
        #expect(parsed.sources["d"]?.rateLimit == nil)
        let found = errors(
            "sources:\n  a: { rate_limit: 20 }\n  b: { rate_limit: { burst: 5 } }\n  c: { rate_limit: { rate: 5/s, burst: 0 } }\n  d: { unix_socket: true, rate_limit: 5/s }\n  e: { rate_limit: 1e-300/h }\nserver: { unix_socket: ./s.sock }\n")
        #expect(found.contains("test.yaml:2:20: error: sources.a.rate_limit must be a rate like 20/s, 600/m or 1000/h (from 1 to 1000000000 per unit), found '20'"), "\(found)")
        #expect(found.contains("test.yaml:3:20: error: sources.b.rate_limit needs a rate, like { rate: 20/s, burst: 50 }"), "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:4:40: error: sources.c.rate_limit.burst must be") }, "\(found)")
        #expect(found.contains("test.yaml:5:27: error: sources.d.rate_limit applies to webhook sources"), "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:6:20: error: sources.e.rate_limit must be a rate") }, "a rate too slow to wait for: \(found)")
        #expect(found.count == 5, "\(found)")
    }

    @Test func badTopicTemplatesAndDuplicateRuleNames() {
        let yaml = """
            sources:
              demo: {}
            rules:
              - name: one
                source: demo
                publish: { topic: "demo/{{ body.x" }
              - name: two
                source: demo
                publish: { topic: "demo/*/{{ body.x }}" }
              - name: one
                source: nowhere
                publish: { topic: "ok/{{ body.x }}" }
            """
        let found = errors(yaml)
        #expect(found.contains("test.yaml:6:23: error: rules[0].publish.topic: '{{' is not closed by '}}'"), "\(found)")
        #expect(found.contains("test.yaml:9:23: error: rules[1].publish.topic: a topic cannot contain '*' (wildcards belong in subscriptions)"), "\(found)")
        #expect(found.contains("test.yaml:10:11: error: duplicate rule name 'one' (first defined at line 4)"), "\(found)")
        #expect(found.contains("test.yaml:11:13: error: rule 'one' names source 'nowhere', which is not declared under sources (declared: demo)"), "\(found)")
        #expect(found.count == 4)
    }

    @Test func everyErrorIsReportedNotJustTheFirst() {
        let found = errors("server:\n  listen: nowhere\nstreams:\n  queue: 0\nbogus: 1\n")
        #expect(found.count == 3, "\(found)")
        #expect(found.allSatisfy { $0.range(of: #"^test\.yaml:\d+:\d+: error: "#, options: .regularExpression) != nil })
    }

    @Test func secretsFromTheEnvironment() throws {
        let yaml = "auth:\n  tokens:\n    - name: a\n      secret: { env: HOOKSTREAM_TEST_SECRET }\n      subscribe: [\"x/**\"]\n"
        let config = try ConfigLoader.parse(yaml, file: "t.yaml", environment: ["HOOKSTREAM_TEST_SECRET": "s3cret"])
        #expect(config.tokens.first?.secret == "s3cret")
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml, file: "t.yaml", environment: [:]) }
    }

    /// Bad input: secret files saved by Windows editors (CRLF), and other line endings. Only the line breaks that end
    /// the file go; "\r\n" is one Swift Character, so trimming by Characters kept it (every signature then failed).
    @Test(arguments: ["s3cret\r\n", "s3cret\n", "s3cret\n\n", "s3cret\r", "s3cret\r\n\r\n", "s3cret"])
    func aSecretFileLosesTheLineBreaksThatEndIt(_ content: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hookstream-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("token")
        try Data(content.utf8).write(to: file)
        let yaml = "auth:\n  tokens:\n    - name: a\n      secret: { file: \(file.path) }\n      subscribe: [\"x/**\"]\n"
        let config = try ConfigLoader.parse(yaml, file: "t.yaml")
        #expect(Array(config.tokens.first?.secret.utf8 ?? "".utf8) == Array("s3cret".utf8))
    }

    /// Bad input: a secret file every user of the host can read (0644, as an editor or `echo >` leaves it). The
    /// file works, as ssh's client would not have it: a warning at the path's position, which names neither the
    /// secret nor anything of it; 0600 and 0640 are quiet.
    @Test func aSecretFileEveryUserCanReadIsAWarning() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hookstream-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("token")
        try Data("s3cret-token-value".utf8).write(to: file)
        let yaml = "auth:\n  tokens:\n    - name: a\n      secret: { file: \(file.path) }\n      subscribe: [\"x/**\"]\n"
        for (mode, warned) in [(0o644, true), (0o606, true), (0o600, false), (0o640, false)] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file.path)
            let config = try ConfigLoader.parse(yaml, file: "t.yaml")
            #expect(config.tokens.first?.secret == "s3cret-token-value", "a warning does not refuse the file")
            if warned {
                #expect(config.warnings.map(\.description) == [
                    "t.yaml:4:23: warning: the secret file '\(file.path)' (for auth.tokens[0].secret) can be read or written by every user of this host (mode \(String(mode, radix: 8))): 'chmod o-rw \(file.path)', or give it to hookstream as a systemd credential ({ credential: NAME } with LoadCredential=)"
                ])
            } else {
                #expect(config.warnings.isEmpty, "mode \(String(mode, radix: 8))")
            }
            #expect(!config.warnings.description.contains("s3cret"))
        }
    }

    /// Bad input: a Unix socket path past the kernel's 107 bytes, which `check` passed and `serve` then failed to bind.
    @Test func aUnixSocketPathPastTheKernelsBoundIsAConfigError() throws {
        let longest = "/" + String(repeating: "s", count: 106)
        let local = "sources: { local: { unix_socket: true } }\n"
        #expect(errors(local + "server: { unix_socket: \(longest) }\n") == [])
        #expect(errors(local + "server:\n  unix_socket: { path: \(longest)x }\n") == [
            "test.yaml:3:24: error: server.unix_socket.path is 108 bytes; a Unix socket path is at most 107: choose a shorter one"
        ])
        #expect(errors(local + "server: { unix_socket: \(longest)x }\n").count == 1)
    }

    @Test func sizesAndDurations() throws {
        let config = try ConfigLoader.parse("server:\n  limits: { body_bytes: 64KiB }\nstreams: { heartbeat: 250ms, retry: 2s }\n", file: "t.yaml")
        #expect(config.server.bodyLimit == 65536)
        #expect(config.streams.heartbeat == .milliseconds(250))
        #expect(config.streams.retry == .seconds(2))
    }
}
