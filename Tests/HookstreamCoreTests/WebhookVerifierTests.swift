import Testing

@testable import HookstreamCore

/// Signature checks against the vectors the providers publish, and the ways a request can be wrong.
@Suite struct WebhookVerifierTests {
    private func verify(_ verifier: WebhookVerifier, _ headers: [String: String], body: String, now: Int64 = 0) throws(SignatureFailure) {
        let result = Array(body.utf8).withUnsafeBytes { bytes in
            Result { () throws(SignatureFailure) in try verifier.verify(header: { headers[$0] }, body: bytes, now: now) }
        }
        try result.get()
    }

    private func failure(_ verifier: WebhookVerifier, _ headers: [String: String], body: String, now: Int64 = 0) -> String? {
        do {
            try verify(verifier, headers, body: body, now: now)
            return nil
        } catch {
            return error.message
        }
    }

    // GitHub's documented example (docs.github.com, "Validating webhook deliveries").
    static let githubSecret = Array("It's a Secret to Everybody".utf8)
    static let githubSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    @Test func githubsPublishedExample() throws {
        let verifier = WebhookVerifier(scheme: .github, secrets: [Self.githubSecret])
        try verify(verifier, ["x-hub-signature-256": Self.githubSignature], body: "Hello, World!")
        // Bad input: a tampered body, a wrong secret, a missing header, a header without its prefix, not hex.
        #expect(failure(verifier, ["x-hub-signature-256": Self.githubSignature], body: "Hello, World?") == "the signature does not match the body and the source's secret")
        let wrong = WebhookVerifier(scheme: .github, secrets: [Array("another secret".utf8)])
        #expect(failure(wrong, ["x-hub-signature-256": Self.githubSignature], body: "Hello, World!") != nil)
        #expect(failure(verifier, [:], body: "Hello, World!") == "the X-Hub-Signature-256 header is missing")
        #expect(failure(verifier, ["x-hub-signature-256": String(Self.githubSignature.dropFirst(7))], body: "Hello, World!") != nil)
        #expect(failure(verifier, ["x-hub-signature-256": "sha256=zz"], body: "Hello, World!") != nil)
    }

    @Test func anyOfSeveralSecretsVerifies() throws {
        // Rotation: the old and the new secret are both configured while senders switch over.
        let verifier = WebhookVerifier(scheme: .github, secrets: [Array("the new secret".utf8), Self.githubSecret])
        try verify(verifier, ["x-hub-signature-256": Self.githubSignature], body: "Hello, World!")
    }

    @Test func failuresNeverShowTheExpectedSignatureOrTheSecret() {
        let verifier = WebhookVerifier(scheme: .github, secrets: [Self.githubSecret])
        let message = failure(verifier, ["x-hub-signature-256": "sha256=" + String(repeating: "0", count: 64)], body: "Hello, World!") ?? ""
        #expect(!message.contains("757107ea"))
        #expect(!message.contains("Secret to Everybody"))
    }

    // Standard Webhooks' published test vector (standard-webhooks/standard-webhooks, libraries' tests).
    static let standardKey = BinaryText.base64("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!
    static let standardHeaders = [
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ]
    static let standardNow: Int64 = 1_614_265_330_000

    @Test func standardWebhooksPublishedVector() throws {
        let verifier = WebhookVerifier(scheme: .standardWebhooks(tolerance: .seconds(300)), secrets: [Self.standardKey])
        try verify(verifier, Self.standardHeaders, body: #"{"test": 2432232314}"#, now: Self.standardNow)
        // Several signatures in one header, other versions among them: any v1 that matches is enough.
        var several = Self.standardHeaders
        several["webhook-signature"] = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc " + Self.standardHeaders["webhook-signature"]!
        try verify(verifier, several, body: #"{"test": 2432232314}"#, now: Self.standardNow)
        // Bad input: the library's own invalid signature, a missing id, a stale and a future timestamp, a non-number.
        var invalid = Self.standardHeaders
        invalid["webhook-signature"] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
        #expect(failure(verifier, invalid, body: #"{"test": 2432232314}"#, now: Self.standardNow) != nil)
        var noID = Self.standardHeaders
        noID["webhook-id"] = nil
        #expect(failure(verifier, noID, body: #"{"test": 2432232314}"#, now: Self.standardNow) == "the webhook-id header is missing")
        #expect(failure(verifier, Self.standardHeaders, body: #"{"test": 2432232314}"#, now: Self.standardNow + 301_000)?.contains("old, outside the tolerance of 300 s") == true)
        #expect(failure(verifier, Self.standardHeaders, body: #"{"test": 2432232314}"#, now: Self.standardNow - 301_000)?.contains("in the future") == true)
        var notANumber = Self.standardHeaders
        notANumber["webhook-timestamp"] = "hello"
        #expect(failure(verifier, notANumber, body: #"{"test": 2432232314}"#, now: Self.standardNow) != nil)
        var huge = Self.standardHeaders
        huge["webhook-timestamp"] = "-9223372036854775808"
        #expect(failure(verifier, huge, body: #"{"test": 2432232314}"#, now: Self.standardNow) != nil)
    }

    // Slack's documented example (api.slack.com, "Verifying requests from Slack").
    @Test func slacksPublishedExample() throws {
        let body =
            "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
        let headers = [
            "x-slack-request-timestamp": "1531420618",
            "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ]
        let verifier = WebhookVerifier(scheme: .slack(tolerance: .seconds(300)), secrets: [Array("8f742231b10e8888abcd99yyyzzz85a5".utf8)])
        try verify(verifier, headers, body: body, now: 1_531_420_618_000)
        #expect(failure(verifier, headers, body: body, now: 1_531_420_618_000 + 600_000) != nil)
        #expect(failure(verifier, headers, body: body + "&x=1", now: 1_531_420_618_000) != nil)
    }

    // Stripe publishes no fixed vector; this one was computed with Python's hmac:
    // hmac.new(b"whsec_test", b'1700000000.{"id":"evt_1","type":"charge.succeeded"}', sha256).hexdigest()
    @Test func stripeSignatures() throws {
        let body = #"{"id":"evt_1","type":"charge.succeeded"}"#
        let signature = "a3f7d2647ca8af4e7ebbd79c4f9380dbd98ee11b35cf0485b700ca327380e947"
        let verifier = WebhookVerifier(scheme: .stripe(tolerance: .seconds(300)), secrets: [Array("whsec_test".utf8)])
        let computed = Self.stripeSignature(secret: "whsec_test", timestamp: "1700000000", body: body)
        #expect(computed == signature, "the test's own vector must agree with Python's hmac")
        let headers = ["stripe-signature": "t=1700000000,v1=\(signature),v0=0000"]
        try verify(verifier, headers, body: body, now: 1_700_000_100_000)
        // Two v1 signatures (Stripe sends one per active secret during a roll): either may match.
        try verify(verifier, ["stripe-signature": "t=1700000000,v1=\(String(repeating: "ab", count: 32)),v1=\(signature)"], body: body, now: 1_700_000_000_000)
        #expect(failure(verifier, headers, body: body, now: 1_700_000_000_000 + 301_000)?.contains("outside the tolerance") == true)
        #expect(failure(verifier, ["stripe-signature": "v1=\(signature)"], body: body, now: 1_700_000_000_000) == "Stripe-Signature has no t= timestamp")
        #expect(failure(verifier, ["stripe-signature": "t=1700000000"], body: body, now: 1_700_000_000_000) == "Stripe-Signature has no v1= signature")
    }

    static func stripeSignature(secret: String, timestamp: String, body: String) -> String {
        var payload = "\(timestamp).\(body)"
        return payload.withUTF8 { BinaryText.hexString(HMACAlgorithm.sha256.authenticationCode(key: Array(secret.utf8), [UnsafeRawBufferPointer($0)])) }
    }

    @Test func gitlabComparesTheToken() throws {
        let verifier = WebhookVerifier(scheme: .gitlab, secrets: [Array("s3cret".utf8)])
        try verify(verifier, ["x-gitlab-token": "s3cret"], body: "{}")
        #expect(failure(verifier, ["x-gitlab-token": "s3cre"], body: "{}") == "X-Gitlab-Token does not match the source's secret")
        #expect(failure(verifier, [:], body: "{}") == "the X-Gitlab-Token header is missing")
    }

    @Test func genericHMACWithEveryAlgorithmAndEncoding() throws {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let cases: [(HMACAlgorithm, String)] = [
            (.sha256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (.sha512, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
            (.sha1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),  // RFC 2202 test case 2
        ]
        for (algorithm, hex) in cases {
            let settings = SignatureScheme.GenericHMAC(header: "X-Signature", algorithm: algorithm, encoding: .hex, prefix: "hmac=")
            let verifier = WebhookVerifier(scheme: .hmac(settings), secrets: [Array("Jefe".utf8)])
            try verify(verifier, ["x-signature": "hmac=\(hex)"], body: "what do ya want for nothing?")
            #expect(failure(verifier, ["x-signature": hex], body: "what do ya want for nothing?") == "x-signature must start with 'hmac='")
            let base64 = SignatureScheme.GenericHMAC(header: "X-Signature", algorithm: algorithm, encoding: .base64)
            let b64 = BinaryText.base64String(BinaryText.hex(Substring(hex))!)
            try verify(WebhookVerifier(scheme: .hmac(base64), secrets: [Array("Jefe".utf8)]), ["x-signature": b64], body: "what do ya want for nothing?")
        }
    }

    @Test func constantTimeEquality() {
        #expect(ConstantTime.equals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!ConstantTime.equals([UInt8](), Array("a".utf8)))
        #expect(!ConstantTime.equals([UInt8](repeating: 0, count: 256), [UInt8]()))  // lengths differing by 256
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
    }
}
