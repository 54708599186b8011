import Foundation
import Testing

/// `hookstream route`: the real rule engine on a message, without a daemon; its text and JSON reports and exit codes.
@Suite(.timeLimit(.minutes(2))) struct RouteCommandTests {
    static let config = """
        sources:
          github: { verify: { github: { secret: "It's a Secret to Everybody" } } }
          local: { unix_socket: true }
        server: { unix_socket: ./run/x.sock }
        rules:
          - name: tags
            source: github
            when: { body.ref: { prefix: refs/tags/ } }
            publish: { topic: "tags/{{ body.repository.name | slug }}" }
          - name: pushes
            source: github
            when: { header.x-github-event: push, query.env: prod }
            publish:
              - { topic: "pushes/{{ body.repository.name | slug }}", event: push, data: { ref: "{{ body.ref }}" } }
              - { topic: audit/github, data: "{{ body.ref }}" }
          - name: never
            source: github
            publish: { topic: never }
          - name: lines
            source: local
            allow_topics: ["local/**"]
            publish: { topic: "{{ topic }}" }
        """

    private func route(_ arguments: [String], body: String? = nil, config: String = RouteCommandTests.config) async throws -> (status: Int32, stdout: String, stderr: String) {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        try config.write(to: directory.appendingPathComponent("hookstream.yaml"), atomically: true, encoding: .utf8)
        var arguments = ["route", "--config", directory.appendingPathComponent("hookstream.yaml").path] + arguments
        if let body {
            try body.write(to: directory.appendingPathComponent("body.json"), atomically: true, encoding: .utf8)
            arguments += ["--body", directory.appendingPathComponent("body.json").path]
        }
        return try await ChildProcess.run(TestEnvironment.binary, arguments)
    }

    /// The rule the README shows first ("## Rules"), taken from the README itself: it passes `check`, and a
    /// deployment failure routes to both its topics, so the example a reader copies works as written.
    @Test func theREADMEsRuleExampleRoutesAsWritten() async throws {
        let readme = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "```yaml\nrules:\n  - name: failed-deploys"))
        let end = try #require(readme[start.upperBound...].range(of: "\n```"))
        let rules = String(readme[readme.index(start.lowerBound, offsetBy: "```yaml\n".count)..<end.lowerBound])
        let config = "sources:\n  github: {}\n" + rules + "\n"
        let body = """
            {"deployment_status":{"state":"failure"},"repository":{"name":"api","full_name":"acme/api"},"commits":[{"id":"c1"}],
             "ref":"refs/heads/release/1.2","labels":[],"sender":{"type":"User"}}
            """
        let routed = try await route(
            ["--source", "github", "--header", "X-GitHub-Event: deployment_status", "--json"], body: body, config: config)
        #expect(routed.status == 0, "\(routed.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(routed.stdout.utf8)) as? [String: Any], "\(routed.stdout)")
        let events = try #require(report["events"] as? [[String: Any]])
        #expect(events.map { $0["topic"] as? String } == ["deploys/api", "audit/deploys"], "\(routed.stdout)")
        #expect(events.first?["event"] as? String == "deploy-failed")
    }

    static let push = #"{"ref":"refs/heads/main","repository":{"name":"Hello World"}}"#

    /// Bad input: `--body` naming a pipe (a FIFO here; `<(…)` and /dev/stdin are pipes too), not a regular file. It
    /// was "cannot read the body file" (exit 64): Foundation's `contents(atPath:)` reads regular files only.
    @Test func aBodyIsReadFromAPipe() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        try Self.config.write(to: directory.appendingPathComponent("hookstream.yaml"), atomically: true, encoding: .utf8)
        let fifo = directory.appendingPathComponent("body.fifo").path
        try #require(mkfifo(fifo, 0o600) == 0)
        let writer = Task.detached {
            // Blocks until route opens the pipe to read it.
            let handle = try #require(FileHandle(forWritingAtPath: fifo))
            try handle.write(contentsOf: Data(#"{"ref":"refs/tags/v1","repository":{"name":"api"}}"#.utf8))
            try handle.close()
        }
        let routed = try await ChildProcess.run(
            TestEnvironment.binary,
            ["route", "--config", directory.appendingPathComponent("hookstream.yaml").path, "--source", "github", "--body", fifo, "--json"])
        try await writer.value
        #expect(routed.status == 0, "\(routed.stderr)")
        #expect(routed.stdout.contains(#""topic":"tags\/api""#) || routed.stdout.contains(#""topic":"tags/api""#), "\(routed.stdout)")
    }

    @Test func reportsMatchesReasonsAndEvents() async throws {
        let matched = try await route(["--source", "github", "--header", "X-GitHub-Event: push", "--query", "env=prod", "--json"], body: Self.push)
        #expect(matched.status == 0, "\(matched.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(matched.stdout.utf8)) as? [String: Any])
        let events = try #require(report["events"] as? [[String: Any]])
        #expect(events.map { $0["topic"] as? String } == ["pushes/hello-world", "audit/github"])
        #expect(events.map { $0["rule"] as? String } == ["pushes", "pushes"])
        #expect(events.first?["event"] as? String == "push")
        #expect((events.first?["data"] as? [String: Any])?["ref"] as? String == "refs/heads/main")
        #expect(events.last?["data"] as? String == "refs/heads/main")
        let rules = try #require(report["rules"] as? [[String: Any]])
        #expect(rules.map { $0["name"] as? String } == ["tags", "pushes", "never"])
        #expect(rules.map { $0["matched"] as? Bool } == [false, true, false])
        #expect(rules.map { $0["failed"] as? Bool } == [false, false, false])
        #expect(rules[0]["reason"] as? String == #"body.ref is "refs/heads/main", which does not start with "refs/tags/""#)
        #expect(rules[1]["reason"] is NSNull)
        #expect(rules[2]["reason"] as? String == "not tried: rule 'pushes' matched before it and does not continue")

        // The text report names the first failed condition of every rule that did not match.
        let unmatched = try await route(["--source", "github", "--header", "X-GitHub-Event: ping"], body: #"{"ref":"refs/heads/x","repository":{"name":"a"}}"#)
        #expect(unmatched.status == 0, "the catch-all rule publishes")
        #expect(unmatched.stdout.contains(#"no match pushes: header.x-github-event is "ping", expected "push""#), "\(unmatched.stdout)")
        #expect(unmatched.stdout.contains("matched  never"))
    }

    /// A regex search given up (bad input: 200 characters for `[a-z]{1,100}x` with 10,000 steps) in an `any` that
    /// holds by its other test: the message would be published, and the report warns of the search, as the daemon does.
    @Test func aSearchGivenUpThatTheConditionWasDecidedWithoutIsReported() async throws {
        let config = """
            sources: { app: {} }
            server: { limits: { regex_steps: 10000 } }
            rules:
              - { name: either, source: app, when: { any: [{ body.text: { regex: "[a-z]{1,100}x" } }, { body.kind: push }] }, publish: { topic: x } }
            """
        let body = #"{"text":"\#(String(repeating: "a", count: 200))","kind":"push"}"#
        let text = try await route(["--source", "app"], body: body, config: config)
        #expect(text.status == 0, "\(text.stdout)")
        #expect(text.stdout.contains("  matched  either"), "\(text.stdout)")
        #expect(text.stdout.contains("warning: rule 'either' decided without a regex search it gave up (the daemon logs this): searching body.text (200 characters)"), "\(text.stdout)")
        let json = try await route(["--source", "app", "--json"], body: body, config: config)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let givenUp = try #require(report["given_up"] as? [String: Any], "\(json.stdout)")
        #expect(givenUp["rule"] as? String == "either")
        #expect((givenUp["reason"] as? String)?.contains("past 10000 steps") == true, "\(givenUp)")
        // Without a give-up there is no such key.
        let plain = try await route(["--source", "app", "--json"], body: #"{"text":"abx"}"#, config: config)
        #expect(!plain.stdout.contains("given_up"), "\(plain.stdout)")
    }

    @Test func exitCodesAndSignatures() async throws {
        // 1: nothing would be published (here a socket line for a topic its rule does not allow).
        let refused = try await route(["--source", "local", "--json"], body: #"{"topic":"other/x"}"#)
        #expect(refused.status == 1)
        #expect(refused.stdout.contains(#""events":[]"#))
        #expect(refused.stdout.contains("topic 'other/x' not allowed"))
        #expect(refused.stdout.contains(#"{"name":"lines","matched":true,"failed":true,"#), "\(refused.stdout)")
        let refusedText = try await route(["--source", "local"], body: #"{"topic":"other/x"}"#)
        #expect(refusedText.status == 1)
        #expect(refusedText.stdout.contains("  FAILED   lines: "), "\(refusedText.stdout)")
        // 78: an invalid config, reported with its position.
        let bad = try await route(["--source", "github"], config: "sources: { github: {} }\nrules: [ { name: x, source: github, publish: { topic: \"a/{{ b\" } } ]\n")
        #expect(bad.status == 78)
        #expect(bad.stderr.contains("hookstream.yaml:2:"))
        // --verify checks the signature headers as the daemon would (GitHub's documented example).
        let signed = try await route(
            ["--source", "github", "--verify", "--header", "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
             "--header", "Content-Type: text/plain"], body: "Hello, World!")
        #expect(signed.status == 0, "\(signed.stdout)")
        #expect(signed.stdout.contains("signature: accepted"))
        let forged = try await route(["--source", "github", "--verify", "--header", "X-Hub-Signature-256: sha256=00", "--json"], body: "{}")
        #expect(forged.status == 1)
        #expect(forged.stdout.contains(#""signature":{"accepted":false"#))
        // An unknown source is a usage error.
        let unknown = try await route(["--source", "nope"], body: "{}")
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("no source named 'nope'"))
        #expect(unknown.stderr.contains("Usage: hookstream route"), "the command's own usage: \(unknown.stderr)")
    }

    /// A rule on the socket sender's credentials can be tried: the dry run gives `peer` as the daemon would, as
    /// the sender named by --peer-uid/--peer-gid, or as the one running the command. A webhook by a method the
    /// daemon refuses is reported as its 405 (bad input: GET).
    @Test func peerRulesAndMethodsAreTriedAsTheDaemonWould() async throws {
        let config = """
            sources:
              local: { unix_socket: true }
              demo: {}
            server: { unix_socket: ./run/x.sock }
            rules:
              - name: root-only
                source: local
                when: { peer.uid: 0, peer.gid: 42 }
                publish: { topic: ops/root }
              - name: anyone
                source: demo
                publish: { topic: demo/x }
            """
        let asRoot = try await route(["--source", "local", "--peer-uid", "0", "--peer-gid", "42", "--json"], body: "{}", config: config)
        #expect(asRoot.status == 0, "\(asRoot.stdout)")
        #expect(asRoot.stdout.contains(#""topic":"ops/root""#), "\(asRoot.stdout)")
        let asOther = try await route(["--source", "local", "--peer-uid", "1000", "--peer-gid", "42", "--json"], body: "{}", config: config)
        #expect(asOther.status == 1)
        #expect(asOther.stdout.contains("peer.uid is 1000"), "\(asOther.stdout)")
        let get = try await route(["--source", "demo", "--method", "GET", "--json"], body: "{}", config: config)
        #expect(get.status == 1, "\(get.stdout)")
        #expect(get.stdout.contains("405"), "\(get.stdout)")
    }

    /// What the daemon refuses before its rules is refused by the dry run too, with the daemon's status and words.
    /// Bad input: a socket sender that `allow_uids` / `allow_gids` do not admit (and one admitted by a supplementary
    /// group), a line past `line_bytes`, a webhook body past `body_bytes`, and a compressed one.
    @Test func whatTheDaemonRefusesBeforeItsRulesIsRefused() async throws {
        let config = """
            sources:
              local: { unix_socket: true, allow_uids: [0], allow_gids: [42] }
              demo: {}
            server: { unix_socket: { path: ./run/x.sock, line_bytes: 1KiB }, limits: { body_bytes: 2KiB } }
            rules:
              - { name: lines, source: local, publish: { topic: local/x } }
              - { name: hooks, source: demo, publish: { topic: demo/x } }
            """
        let stranger = try await route(["--source", "local", "--peer-uid", "1001", "--peer-gid", "1001", "--json"], body: "{}", config: config)
        #expect(stranger.status == 1)
        #expect(stranger.stdout.contains(#""refused":{"status":403,"message":"forbidden: uid 1001 and gid 1001 are in neither allow_uids nor allow_gids of source 'local'"}"#), "\(stranger.stdout)")
        let member = try await route(["--source", "local", "--peer-uid", "1001", "--peer-gid", "1001", "--peer-group", "42", "--json"], body: "{}", config: config)
        #expect(member.status == 0, "a supplementary group in allow_gids: \(member.stdout)")
        let long = #"{"data":""# + String(repeating: "x", count: 1_100) + #""}"#
        let longLine = try await route(["--source", "local", "--peer-uid", "0"], body: long + "\n", config: config)
        #expect(longLine.status == 1)
        #expect(longLine.stdout.contains("refused with 400: line longer than 1024 bytes (server.unix_socket.line_bytes)"), "\(longLine.stdout)")
        let largeBody = try await route(["--source", "demo"], body: long + long, config: config)
        #expect(largeBody.status == 1)
        #expect(largeBody.stdout.contains("refused with 413: the request body is larger than the limit of 2048 bytes"), "\(largeBody.stdout)")
        let gzipped = try await route(["--source", "demo", "--header", "Content-Encoding: gzip"], body: "{}", config: config)
        #expect(gzipped.status == 1)
        #expect(gzipped.stdout.contains("refused with 415: Content-Encoding 'gzip' is not supported"), "\(gzipped.stdout)")
        // Within the bounds, each is routed.
        #expect(try await route(["--source", "demo"], body: long, config: config).status == 0)
        #expect(try await route(["--source", "local", "--peer-uid", "0"], body: #"{"data":1}"# + "\n", config: config).status == 0)
    }
}
