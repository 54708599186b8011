import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// Signed webhooks end to end: signatures made by libraries nobody here wrote (PyPI's `standardwebhooks`,
/// Python's `hmac`), sent by httpx to the real daemon; redeliveries answered with their original ids.
@Suite(.timeLimit(.minutes(3))) struct SignedWebhookTests {
    let client = HTTPClient.shared

    static let sources = ["github", "stripe", "slack", "sw", "gitlab", "partner"]

    static let config = """
        store: { kind: sqlite, path: ./var/hookstream.db }
        auth:
          tokens: [{ name: t, secret: { value: reader-token }, subscribe: ["signed/**"] }]
        sources:
          github: { verify: { github: { secret: [{ env: GH_OLD_SECRET }, { env: GH_NEW_SECRET }] } } }
          stripe: { verify: { stripe: { secret: { file: stripe-secret.txt } } } }
          slack: { verify: { slack: { secret: slack-signing-secret, tolerance: 2m } } }
          sw: { verify: { standard-webhooks: { secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw } } }
          gitlab: { verify: { gitlab: { secret: gitlab-token-value } } }
          partner: { verify: { hmac: { header: X-Signature, algorithm: sha512, encoding: base64, secret: partner-secret } } }
        rules:

        """ + sources.map { "  - { name: signed-\($0), source: \($0), publish: { topic: \"signed/{{ source }}\" } }\n" }.joined()

    static let environment = ["GH_OLD_SECRET": "github-old-secret", "GH_NEW_SECRET": "github-new-secret"]
    static let secrets = ["github-old-secret", "github-new-secret", "whsec_stripe_file_secret", "slack-signing-secret", "gitlab-token-value", "partner-secret", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]

    private func startDaemon(directory: URL? = nil) async throws -> Daemon {
        let directory = try directory ?? TestEnvironment.makeTemporaryDirectory()
        try "whsec_stripe_file_secret\n".write(to: directory.appendingPathComponent("stripe-secret.txt"), atomically: true, encoding: .utf8)
        return try await Daemon.start(config: Self.config, directory: directory, environment: Self.environment)
    }

    struct Sent {
        var status: Int
        var body: String
        var expected: String
        var ids: [Int] { ((try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["ids"] as? [Int]) ?? [] }
        var isDuplicate: Bool { ((try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["duplicate"] as? Bool) ?? false }
    }

    private func send(_ daemon: Daemon, source: String, scheme: String, secret: String, body: String = #"{"id":"evt_1","n":1}"#, _ extra: [String] = []) async throws -> Sent {
        let child = try ChildProcess(
            TestEnvironment.python,
            [TestEnvironment.client("signed_webhook.py"), "--url", "\(daemon.baseURL)/hooks/\(source)", "--scheme", scheme, "--secret", secret, "--body", body] + extra)
        #expect(try await child.waitForExit() == 0, "\(child.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(child.stdout.utf8)) as? [String: Any]
        return Sent(status: object?["status"] as? Int ?? 0, body: object?["body"] as? String ?? "", expected: object?["expected"] as? String ?? "")
    }

    /// Runs `body` with a daemon on the signed-sources config, and always stops it.
    private func withSignedDaemon(directory: URL? = nil, _ body: (Daemon) async throws -> Void) async throws {
        let daemon = try await startDaemon(directory: directory)
        do {
            try await body(daemon)
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
        if daemon.child.isRunning { try await daemon.stop() }
    }

    @Test func everyPresetAcceptsRightSignaturesAndRefusesWrongOnes() async throws {
        try await withSignedDaemon { daemon in
        let stale = String(Int(Date().timeIntervalSince1970) - 3600)
        let cases: [(source: String, scheme: String, secret: String, timestamped: Bool)] = [
            ("github", "github", "github-new-secret", false),
            ("stripe", "stripe", "whsec_stripe_file_secret", true),
            ("slack", "slack", "slack-signing-secret", true),
            ("sw", "standard-webhooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true),
            ("gitlab", "gitlab", "gitlab-token-value", false),
            ("partner", "hmac-sha512-base64", "partner-secret", false),
        ]
        var published = 0
        var refusals: [Sent] = []
        for (index, c) in cases.enumerated() {
            let body = #"{"id":"evt_\#(index)","case":"\#(c.source)"}"#
            let right = try await send(daemon, source: c.source, scheme: c.scheme, secret: c.secret, body: body, ["--id", "right-\(index)"])
            #expect(right.status == 202, "\(c.source): \(right.body)")
            published += 1
            #expect(right.ids == [published], "\(c.source)")
            // Bad input: the wrong secret, a tampered body, the signature header left out, an old timestamp.
            let wrongSecret = c.scheme == "standard-webhooks" ? "whsec_" + Data("another key".utf8).base64EncodedString() : "not-the-secret"
            refusals.append(try await send(daemon, source: c.source, scheme: c.scheme, secret: wrongSecret, body: body, ["--id", "wrong-\(index)"]))
            if c.scheme != "gitlab" {  // GitLab's token does not sign the body: a changed body cannot be told
                refusals.append(try await send(daemon, source: c.source, scheme: c.scheme, secret: c.secret, body: body, ["--tamper", "--id", "tampered-\(index)"]))
            }
            let header = ["github": "X-Hub-Signature-256", "stripe": "Stripe-Signature", "slack": "X-Slack-Signature", "standard-webhooks": "webhook-signature", "gitlab": "X-Gitlab-Token", "hmac-sha512-base64": "X-Signature"][c.scheme]!
            refusals.append(try await send(daemon, source: c.source, scheme: c.scheme, secret: c.secret, body: body, ["--omit", header, "--id", "omitted-\(index)"]))
            if c.timestamped {
                let old = try await send(daemon, source: c.source, scheme: c.scheme, secret: c.secret, body: body, ["--timestamp", stale, "--id", "stale-\(index)"])
                #expect(old.body.contains("outside the tolerance"), "\(c.source): \(old.body)")
                refusals.append(old)
            }
        }
        for refusal in refusals {
            #expect(refusal.status == 401, "\(refusal.body)")
            #expect(refusal.body.contains(#""error":"bad_signature""#), "\(refusal.body)")
            #expect(!refusal.body.contains(refusal.expected), "the expected signature is never sent back")
        }
        // The rotated-out secret still verifies while it is listed. Sent with an Origin, as a browser-based tool that
        // forwards webhooks sends it: a signed source goes by the signature (only sources without verify: refuse
        // another origin's pages).
        let old = try await send(daemon, source: "github", scheme: "github", secret: "github-old-secret", ["--id", "rotation", "--header", "Origin: https://tools.example"])
        #expect(old.status == 202, "\(old.body)")
        // Nothing refused was published: the log holds exactly the accepted events, numbered without gaps.
        let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=signed/**&lastEventId=0", headers: [("Authorization", "Bearer reader-token")])
        let total = published + 1
        let events = try await stream.collect { $0.count == total }
        #expect(events.map(\.id) == (1...total).map { String($0) })
        let refused = refusals.count
        try await waitUntil("the refusals in the log") { daemon.log.components(separatedBy: "signature was not accepted").count > refused }
        try await daemon.stop()
        for secret in Self.secrets { #expect(!daemon.log.contains(secret), "the log never holds a secret") }
        for refusal in refusals { #expect(!daemon.log.contains(refusal.expected), "nor an expected signature") }
        }
    }

    /// Slack checks an Events API Request URL by sending it a signed `url_verification` with a challenge, which it
    /// must get back (200) before it sends events there. It was published as an event and answered 202, so Slack
    /// refused the URL. Bad input too: the same body with a wrong signature is refused as any other.
    @Test func slacksURLVerificationGetsItsChallengeBackAndPublishesNothing() async throws {
        try await withSignedDaemon { daemon in
            let verification = #"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#
            let answered = try await send(daemon, source: "slack", scheme: "slack", secret: "slack-signing-secret", body: verification)
            #expect(answered.status == 200, "\(answered.body)")
            #expect(answered.body == #"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"# + "\n", "\(answered.body)")
            let forged = try await send(daemon, source: "slack", scheme: "slack", secret: "not-the-secret", body: verification)
            #expect(forged.status == 401, "\(forged.body)")
            let event = try await send(
                daemon, source: "slack", scheme: "slack", secret: "slack-signing-secret", body: #"{"type":"event_callback","event_id":"Ev1"}"#)
            #expect(event.status == 202 && event.ids == [1], "the verification published nothing: \(event.body)")
        }
    }

    @Test func redeliveriesGetTheOriginalIdsAndPublishNothing() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let daemon = try await startDaemon(directory: directory)
        let first = try await send(daemon, source: "github", scheme: "github", secret: "github-new-secret", ["--id", "delivery-1"])
        #expect(first.status == 202 && first.ids == [1] && !first.isDuplicate, "\(first.body)")
        let again = try await send(daemon, source: "github", scheme: "github", secret: "github-new-secret", ["--id", "delivery-1"])
        #expect(again.status == 202 && again.ids == [1] && again.isDuplicate, "\(again.body)")
        // Stripe names the event in the body, Standard Webhooks in webhook-id.
        let stripeBody = #"{"id":"evt_42","type":"charge.succeeded"}"#
        let charge = try await send(daemon, source: "stripe", scheme: "stripe", secret: "whsec_stripe_file_secret", body: stripeBody)
        let chargeAgain = try await send(daemon, source: "stripe", scheme: "stripe", secret: "whsec_stripe_file_secret", body: stripeBody)
        #expect(charge.ids == [2] && chargeAgain.ids == [2] && chargeAgain.isDuplicate, "\(chargeAgain.body)")
        // Two copies of one delivery at the same moment: one publishes, both get its ids.
        async let a = send(daemon, source: "sw", scheme: "standard-webhooks", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ["--id", "msg_race"])
        async let b = send(daemon, source: "sw", scheme: "standard-webhooks", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ["--id", "msg_race"])
        let (ra, rb) = try await (a, b)
        #expect(ra.ids == [3] && rb.ids == [3], "\(ra.body) \(rb.body)")
        #expect(ra.isDuplicate != rb.isDuplicate)
        // Durable: after a restart on the same store, the redelivery is still recognised.
        try await daemon.stop()
        let restarted = try await startDaemon(directory: directory)
        let afterRestart = try await send(restarted, source: "github", scheme: "github", secret: "github-new-secret", ["--id", "delivery-1"])
        #expect(afterRestart.ids == [1] && afterRestart.isDuplicate, "\(afterRestart.body)")
        let fresh = try await send(restarted, source: "github", scheme: "github", secret: "github-new-secret", ["--id", "delivery-2"])
        #expect(fresh.ids == [4] && !fresh.isDuplicate, "\(fresh.body)")
        try await restarted.stop()
    }

    /// GitLab's preset knows a redelivery by its `Idempotency-Key`, which GitLab keeps across retries and resends, and
    /// not by `X-Gitlab-Event-UUID`: a resend gets a new one, and the hooks set off by a hook's own request share it.
    @Test func gitLabDeliveriesAreKnownByTheirIdempotencyKey() async throws {
        try await withSignedDaemon { daemon in
            func deliver(_ arguments: [String]) async throws -> Sent {
                try await self.send(daemon, source: "gitlab", scheme: "gitlab", secret: "gitlab-token-value", body: #"{"object_kind":"push"}"#, arguments)
            }
            let first = try await deliver(["--id", "key-1"])
            let resent = try await deliver(["--id", "key-1"])  // a new Event-UUID, the same key
            #expect(first.status == 202 && first.ids == [1] && !first.isDuplicate, "\(first.body)")
            #expect(resent.ids == [1] && resent.isDuplicate, "\(resent.body)")
            // Two deliveries of one recursion chain: the same Event-UUID, each its own key. Both are published.
            let chained = try await deliver(["--id", "key-2", "--header", "X-Gitlab-Event-UUID: chain-1"])
            let sibling = try await deliver(["--id", "key-3", "--header", "X-Gitlab-Event-UUID: chain-1"])
            #expect(chained.ids == [2] && sibling.ids == [3] && !sibling.isDuplicate, "\(chained.body) \(sibling.body)")
        }
    }

    /// A delivery id found by `dedupe: { path: ... }` outside the body (here the query), which no rule reads: the
    /// message is built with it all the same, so the redelivery is recognised.
    @Test func aDeliveryIDInTheQueryIsFoundThoughNoRuleReadsIt() async throws {
        let config = """
            sources: { app: { dedupe: { path: query.delivery } } }
            rules: [ { name: r, source: app, publish: { topic: "app/x" } } ]
            """
        try await withDaemon(config: config) { daemon in
            let url = "\(daemon.baseURL)/hooks/app?delivery=abc"
            let first = try await client.send(.POST, url, body: "{}", headers: [("Content-Type", "application/json")])
            let again = try await client.send(.POST, url, body: "{}", headers: [("Content-Type", "application/json")])
            #expect(first.body == "{\"ids\":[1],\"topics\":[\"app/x\"]}\n", "\(first.body)")
            #expect(again.body == "{\"ids\":[1],\"topics\":[\"app/x\"],\"duplicate\":true}\n", "\(again.body)")
        }
    }
}
