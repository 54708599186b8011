import Foundation
import Testing

@testable import HookstreamCore

/// The `sources` and `rules` sections: what they compile to, and the errors (with positions) for bad ones.
@Suite struct ConfigRoutingTests {
    private func load(_ yaml: String, environment: [String: String] = [:]) throws -> Configuration {
        try ConfigLoader.parse(yaml, file: "test.yaml", environment: environment)
    }

    private func errors(_ yaml: String, environment: [String: String] = [:]) -> [String] {
        do {
            _ = try ConfigLoader.parse(yaml, file: "test.yaml", environment: environment)
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func theIssuesContractForSignedSources() throws {
        let config = try load(
            """
            sources:
              github:
                verify: { github: { secret: { env: GITHUB_WEBHOOK_SECRET } } }
              stripe:
                verify: { stripe: { secret: { env: STRIPE_SIGNING_SECRET }, tolerance: 5m } }
            """, environment: ["GITHUB_WEBHOOK_SECRET": "gh", "STRIPE_SIGNING_SECRET": "st"])
        let github = try #require(config.sources["github"])
        #expect(github.verifier == WebhookVerifier(scheme: .github, secrets: [Array("gh".utf8)]))
        #expect(github.deliveryID == .header("x-github-delivery"))
        #expect(github.deliveryWindow == .seconds(86400))
        let stripe = try #require(config.sources["stripe"])
        #expect(stripe.verifier?.scheme == .stripe(tolerance: .seconds(300)))
        #expect(stripe.deliveryID == .path(try ValuePath("body.id")))
        #expect(config.deliveryRetention == .seconds(86400))
    }

    @Test func everyPresetAndSecretForm() throws {
        let directory = try TemporaryFolder.make("hookstream-credentials")
        try "from-credential\n".write(to: directory.appendingPathComponent("slack-secret"), atomically: true, encoding: .utf8)
        let config = try load(
            """
            sources:
              gitlab: { verify: { gitlab: { secret: plain } } }
              slack: { verify: { slack: { secret: { credential: slack-secret }, tolerance: 1m } } }
              sw: { verify: { standard-webhooks: { secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw } }, dedupe: { window: 1h } }
              custom:
                verify: { hmac: { header: X-Signature, algorithm: sha512, encoding: base64, prefix: "v=", secret: [old, { value: new }] } }
                dedupe: { path: body.delivery.id }
              quiet: { verify: { github: { secret: x } }, dedupe: false }
              plain: {}
            """, environment: ["CREDENTIALS_DIRECTORY": directory.path])
        #expect(config.sources["gitlab"]?.verifier?.scheme == .gitlab)
        #expect(config.sources["slack"]?.verifier == WebhookVerifier(scheme: .slack(tolerance: .seconds(60)), secrets: [Array("from-credential".utf8)]))
        #expect(config.sources["sw"]?.verifier?.keys == [BinaryText.base64("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!])
        #expect(config.sources["sw"]?.deliveryID == .header("webhook-id"))
        #expect(config.sources["sw"]?.deliveryWindow == .seconds(3600))
        let custom = try #require(config.sources["custom"]?.verifier)
        #expect(custom.scheme == .hmac(.init(header: "x-signature", algorithm: .sha512, encoding: .base64, prefix: "v=")))
        #expect(custom.keys == [Array("old".utf8), Array("new".utf8)])
        #expect(config.sources["custom"]?.deliveryID == .path(try ValuePath("body.delivery.id")))
        #expect(config.sources["quiet"]?.deliveryID == nil)
        #expect(config.sources["plain"]?.verifier == nil)
        #expect(config.sources["plain"]?.deliveryID == nil)
    }

    @Test func badSourcesAreReportedWhereTheyAre() {
        // Bad input: an unknown preset, a preset without a secret, an hmac without its header, a credential without
        // $CREDENTIALS_DIRECTORY, a secret that is not a Standard Webhooks secret, socket options on a webhook source.
        let found = errors(
            """
            sources:
              a: { verify: { githab: { secret: x } } }
              b: { verify: { stripe: { tolerance: 5m } } }
              c: { verify: { hmac: { secret: x } } }
              d: { verify: { github: { secret: { credential: gh } } } }
              e: { verify: { standard-webhooks: { secret: "whsec_!!" } } }
              f: { allow_uids: [0] }
              g: { verify: { github: { secret: x }, gitlab: { secret: y } } }
            """)
        #expect(found.contains { $0.hasPrefix("test.yaml:2:18: error: unknown key 'githab' in sources.a.verify") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:3:26: error: sources.b.verify.stripe needs a secret") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:4:24: error: sources.c.verify.hmac needs the header") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:5:50: error: sources.d.verify.github.secret names the credential 'gh', but $CREDENTIALS_DIRECTORY is not set") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:6:47: error: sources.e.verify.standard-webhooks.secret must be a Standard Webhooks secret") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:7:8: error: sources.f.allow_uids applies to the Unix socket's source only") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:8:16: error: sources.g.verify must name exactly one of") }, "\(found)")
        #expect(found.count == 7, "\(found)")
    }

    @Test func socketSourceWithPeersAndSocketOwnership() throws {
        let config = try load(
            """
            server:
              unix_socket: { path: ./run/x.sock, mode: "0600", owner: "0", group: root }
            sources:
              local: { unix_socket: true, allow_uids: [0, 1000], allow_gids: root }
            """)
        let local = try #require(config.sources["local"])
        #expect(local.allowedUIDs == [0, 1000])
        #expect(local.allowedGIDs == [0])
        #expect(local.allowsPeer(uid: 1000, gid: 55))
        #expect(local.allowsPeer(uid: 55, gid: 0))
        #expect(!local.allowsPeer(uid: 55, gid: 55))
        #expect(config.server.unixSocket?.owner == 0)
        #expect(config.server.unixSocket?.group == 0)
        let found = errors("server:\n  unix_socket: { path: x.sock, owner: no-such-user-here }\nsources:\n  l: { unix_socket: true }\n")
        #expect(found == ["test.yaml:2:39: error: server.unix_socket.owner: there is no user named 'no-such-user-here' on this host"])
    }

    @Test func rulesCompileWithEveryShapeOfCondition() throws {
        let config = try load(
            """
            sources: { github: {} }
            rules:
              - name: pushes
                source: github
                when:
                  header.X-GitHub-Event: push
                  body.ref: { prefix: refs/heads/, suffix: /main }
                  body.commits[0].message: { regex: "^(fix|feat)" }
                  body.size: { gte: 1, lt: 100 }
                  any:
                    - body.forced: true
                    - body.labels: { contains: urgent }
                  not: { body.sender.type: Bot }
                continue: true
                publish:
                  - { topic: "pushes/{{ body.repository.name | slug }}", event: push }
                  - { topic: "audit/github", data: { ref: "{{ body.ref }}" } }
              - name: everything
                source: github
                when: [ { method: POST }, { path: { exists: false } } ]
                publish: { topic: all/github }
            """)
        #expect(config.rules.map(\.name) == ["pushes", "everything"])
        #expect(config.rules[0].continues)
        #expect(config.rules[0].events.count == 2)
        let message = try JSONParser.parse(
            #"{"header":{"x-github-event":"push"},"body":{"ref":"refs/heads/main","commits":[{"message":"fix it"}],"size":3,"labels":["urgent"],"forced":false,"sender":{"type":"User"},"repository":{"name":"My Repo"}},"method":"POST"}"#)
        let engine = RuleEngine(rules: config.rules)
        let drafts = try engine.route(source: "github", message: message)
        #expect(drafts.map(\.topic) == ["pushes/my-repo", "audit/github", "all/github"])
        #expect(drafts[1].data == .json(#"{"ref":"refs/heads/main"}"#))
        #expect(engine.roots(for: "github") == ["header", "body", "method", "path"])
    }

    @Test func badRulesAreReportedWhereTheyAre() {
        // Bad input: a regex that does not compile, an unknown operator, a template with an unknown filter, a path
        // starting at a root webhooks do not have, a non-numeric comparison, a wildcard in a topic, an empty publish list.
        let found = errors(
            """
            sources: { github: {} }
            rules:
              - name: a
                source: github
                when:
                  body.x: { regex: "([" }
                  body.y: { matches: x }
                  bdy.z: 1
                  body.n: { gt: many }
                publish: { topic: "x/{{ body.x | shout }}" }
              - name: b
                source: github
                publish: { topic: "x/*" }
              - name: c
                source: github
                publish: []
            """)
        #expect(found.contains { $0.hasPrefix("test.yaml:6:24: error: rules[0].when.body.x.regex: invalid regular expression /([/") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:7:17: error: unknown key 'matches' in rules[0].when.body.y (expected one of: equals, in, regex") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:8:7: error: 'bdy.z' starts at 'bdy', which a webhook message does not have") }, "\(found)")
        #expect(found.contains { $0 == "test.yaml:9:21: error: rules[0].when.body.n.gt must be a number" }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:10:23: error: rules[0].publish.topic: unknown filter 'shout'") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:13:23: error: rules[1].publish.topic: topic 'x/*' contains a wildcard") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:16:14: error: rules[2].publish must name at least one event") }, "\(found)")
    }

    /// Rules may come before the sources they name: the file's order of sections does not matter.
    @Test func rulesMayPrecedeTheSourcesTheyName() throws {
        let config = try load(
            """
            rules:
              - { name: r, source: demo, publish: { topic: "demo/x" } }
            sources:
              demo: {}
            """)
        #expect(config.rules.map(\.name) == ["r"])
    }

    /// Bad input: conditions that are empty (null) inside `not`, `any`, `all` and a `when` list. Each would have
    /// been dropped, and an empty `not` took every message.
    @Test func emptyConditionsAreErrorsWhereTheyAre() {
        let found = errors(
            """
            sources: { demo: {} }
            rules:
              - name: a
                source: demo
                when: { not: ~ }
                publish: { topic: x }
              - name: b
                source: demo
                when: { any: [ ~ ], all: [ { body.x: 1 }, ~ ] }
                publish: { topic: x }
              - name: c
                source: demo
                when: [ ~ ]
                publish: { topic: x }
              - name: d
                source: demo
                when: { all: [], not: {}, any: [ {} ] }
                publish: { topic: x }
              - name: e
                source: demo
                when: [ {} ]
                publish: { topic: x }
            """)
        #expect(found.contains { $0 == "test.yaml:5:18: error: rules[0].when.not is empty: write the condition that must not hold" }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:9:20: error: rules[1].when.any[0] is empty") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:9:47: error: rules[1].when.all[1] is empty") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:13:13: error: rules[2].when[0] is empty") }, "\(found)")
        // Bad input: empty lists and mappings where a condition goes (an empty `all` held for every message).
        #expect(found.contains { $0.hasPrefix("test.yaml:17:18: error: rules[3].when.all is an empty list") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:17:27: error: rules[3].when.not is empty") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:17:38: error: rules[3].when.any[0] is empty") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:21:13: error: rules[4].when[0] is empty") }, "\(found)")
        #expect(found.count == 8, "\(found)")
    }

    /// Bad input: topic templates whose literal text no message can make valid (a '..' segment, a control
    /// character), one that `allow_topics` never allows, and reserved event types.
    @Test func templatesThatFailEveryMessageAreErrors() {
        let found = errors(
            """
            sources: { demo: {} }
            rules:
              - name: a
                source: demo
                publish:
                  - { topic: "demo/../{{ body.x }}" }
                  - { topic: "demo/{{ body.x }}/.." }
                  - { topic: "demo/\\x01/{{ body.x }}" }
              - name: b
                source: demo
                allow_topics: ["other/**"]
                publish: { topic: "demo/{{ body.x }}" }
              - name: c
                source: demo
                publish:
                  - { topic: x, event: hookstream.expired }
                  - { topic: x, event: "hookstream.{{ body.kind }}" }
            """)
        #expect(found.contains { $0.hasPrefix("test.yaml:6:18: error: rules[0].publish[0].topic: every topic it renders is refused: topic 'demo/../x' has a '.' or '..' segment") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:7:18: error: rules[0].publish[1].topic: every topic it renders is refused") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:8:18: error: rules[0].publish[2].topic: every topic it renders is refused") }, "\(found)")
        #expect(found.contains { $0 == "test.yaml:11:19: error: rule 'b' publishes to 'demo/{{ body.x }}', which allow_topics (other/**) never allows" }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:16:28: error: rules[2].publish[0].event: event type 'hookstream.expired' starts with 'hookstream.'") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("test.yaml:17:28: error: rules[2].publish[1].event: event type 'hookstream.{{ body.kind }}' starts with") }, "\(found)")
        #expect(found.count == 6, "\(found)")
    }

    /// Topics that allow_topics can reach are not refused: a placeholder may fill a `*` or a literal segment.
    @Test func templatesThatCanReachTheirAllowListPass() throws {
        let config = try load(
            """
            sources: { demo: {} }
            rules:
              - name: a
                source: demo
                allow_topics: ["demo/*/x", "ops/alpha/**"]
                publish:
                  - { topic: "demo/{{ body.a }}/x" }
                  - { topic: "ops/{{ body.b }}/deep/{{ body.c }}" }
                  - { topic: "{{ body.any }}" }
                  - { topic: "demo/pre-{{ body.a }}/x" }
            """)
        #expect(config.rules.count == 1)
    }

    /// A `dedupe: { path: ... }` outside the body is checked like a rule's path (bad input: a root webhooks do not
    /// have).
    @Test func aDedupePathIsCheckedAgainstTheMessage() {
        let found = errors(
            """
            sources:
              demo: { dedupe: { path: nope.x } }
            """)
        #expect(found.contains { $0.hasPrefix("test.yaml:2:27: error: 'nope.x' starts at 'nope', which a webhook message does not have") }, "\(found)")
    }
}
