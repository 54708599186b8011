import HookstreamCore
import Testing

/// Values that hold a secret print without it, so that one interpolated into a log line or an error leaks nothing:
/// by themselves and inside the whole configuration.
@Suite struct SecretDescriptionTests {
    @Test func secretsAreHiddenWhereverTheirHoldersArePrinted() throws {
        let token = AccessToken(name: "page", secret: "tok-SECRET-1", subscribe: TopicFilter([try TopicPattern("a/**")]))
        var postgres = PostgresStore()
        postgres.password = "pg-SECRET-2"
        let tls = Configuration.TLS(certificateChainPEM: "-----BEGIN CERTIFICATE-----", privateKeyPEM: "key-SECRET-3")
        let verifier = WebhookVerifier(scheme: .github, secrets: [Array("hook-SECRET-4".utf8)])
        var configuration = Configuration()
        configuration.tokens = [token]
        configuration.server.tls = tls
        configuration.store.postgres = postgres
        let printed = [
            "\(token)", String(reflecting: token), "\(postgres)", "\(tls)", "\(verifier)", "\(configuration)", String(reflecting: configuration),
        ]
        for text in printed {
            #expect(!text.contains("SECRET"), "\(text)")
        }
        #expect("\(token)".contains("page") && "\(token)".contains("<hidden>"))
        #expect("\(postgres)".contains("password: <hidden>"))
    }
}
