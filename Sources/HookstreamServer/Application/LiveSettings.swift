import HookstreamCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// Everything a request reads from the configuration, compiled once: a reload swaps the whole object, and a
/// request that started with one keeps using it to its end, so it never sees half of two configurations.
final class LiveSettings: Sendable {
    let configuration: Configuration
    let authenticator: Authenticator
    let engine: RuleEngine
    /// The TLS context new connections get (certificate and key as of this configuration), when `server.tls` is set.
    let tls: NIOSSLContext?
    /// `server.hosts` with the hosts of `cors.origins`.
    private let allowedHosts: HostAllowList

    private init(configuration: Configuration, authenticator: Authenticator, tls: NIOSSLContext?) {
        self.configuration = configuration
        self.authenticator = authenticator
        self.engine = RuleEngine(rules: configuration.rules, regexSteps: configuration.server.regexSteps)
        self.tls = tls
        self.allowedHosts = configuration.server.hosts.addingHosts(ofOrigins: configuration.cors.origins)
    }

    /// These settings with `tls` (configured as `configured`) for new connections. TLS on or off takes a restart: a
    /// reload that drops `server.tls` keeps the listener's TLS with the context it had (else its port would answer
    /// cleartext HTTP to HTTPS clients, and take bearer tokens in the clear), and the configuration in force keeps
    /// saying so (so that a later reload that puts `server.tls` back is not a change that takes a restart).
    func keepingTLS(_ tls: NIOSSLContext, configured: Configuration.TLS) -> LiveSettings {
        var configuration = self.configuration
        configuration.server.tls = configured
        return LiveSettings(configuration: configuration, authenticator: authenticator, tls: tls)
    }

    /// Compiles `configuration` (its JWT keys and TLS context among it).
    /// - Throws: ``SettingsError`` naming the part that cannot be put in use.
    static func make(_ configuration: Configuration) async throws(SettingsError) -> LiveSettings {
        let authenticator: Authenticator
        do {
            authenticator = try await Authenticator.make(configuration)
        } catch {
            throw SettingsError("auth.jwt: the keys cannot be put in use: \(error)")
        }
        let tls: NIOSSLContext?
        do {
            tls = try configuration.server.tls.map(LiveSettings.tlsContext)
        } catch {
            throw SettingsError("server.tls: the certificate and key cannot be put in use: \(error)")
        }
        return LiveSettings(configuration: configuration, authenticator: authenticator, tls: tls)
    }

    /// How long a TLS connection's close waits for the client's close_notify before it closes the socket anyway.
    static let tlsCloseTimeout = TimeAmount.milliseconds(750)

    /// A server context offering HTTP/2 and HTTP/1.1 by ALPN.
    static func tlsContext(_ tls: Configuration.TLS) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(tls.certificateChainPEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(bytes: Array(tls.privateKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        // TLS 1.2 and 1.3 only (swift-nio-ssl's server default still accepts 1.0 and 1.1, which browsers dropped).
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["h2", "http/1.1"]
        // A close waits this long for the client's close_notify, and a client that reads nothing never sends one: with
        // swift-nio-ssl's 5 s, the streams of such a connection (closed when it is stuck, or at a stop) held their
        // replays' writes open past the stop's 1.5 s, and swift-service-lifecycle ended the process with a fatal
        // error. A client that reads answers within a round trip.
        configuration.shutdownTimeout = LiveSettings.tlsCloseTimeout
        return try NIOSSLContext(configuration: configuration)
    }

    /// Whether `origin` is one of `cors.origins`: its pages may read answers and call the API with credentials.
    func allows(origin: String?) -> Bool {
        origin.map { configuration.cors.origins.contains($0) } ?? false
    }

    /// Whether a request with `headers` was not made by a page of another origin: the cookie authenticates only such
    /// requests, and sources without `verify:` take webhooks only from them. Its `Origin`, when it has one, must be
    /// in `cors.origins` or be this server's own (`http` or `https` and the request's `Host`). One without an
    /// `Origin` (browsers send none on a page's same-origin `GET`, nor on an `<img>` or `<iframe>` of another site)
    /// must not say, by `Sec-Fetch-Site`, that another origin's page made it: those headers are the browser's,
    /// scripts cannot set them, and a client that sends neither (curl, a webhook sender, an old browser) is not a page.
    func isNotFromAForeignPage(headers: HTTPHeaders) -> Bool {
        guard let origin = headers.first(name: "origin") else {
            guard let site = headers.first(name: "sec-fetch-site") else { return true }
            return site == "same-origin" || site == "none"
        }
        if allows(origin: origin) { return true }
        guard let host = headers.first(name: "host"), !host.isEmpty else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }

    /// Whether a request whose `Host` is `host` came under a name this server does not answer to (``HostAllowList``:
    /// `server.hosts` and the hosts of `cors.origins`, against DNS rebinding). Only plain-HTTP listeners ask
    /// (``HTTPConnectionHandler``): whether this configuration has `server.tls` does not say what a listener started
    /// with (turning TLS on or off takes a restart).
    func refuses(host: String) -> Bool {
        !allowedHosts.allows(hostHeader: host)
    }

    /// The CORS headers for a request from `origin`: the exact origin with credentials, for configured origins
    /// only, so other pages cannot read the answer. With origins configured every answer says `Vary: Origin`: it
    /// depends on it, and a cache must not give one origin's answer (with or without the headers) to another.
    func corsHeaders(origin: String?) -> [(String, String)] {
        guard !configuration.cors.origins.isEmpty else { return [] }
        guard let origin, allows(origin: origin) else { return [("Vary", "Origin")] }
        return [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]
    }
}
