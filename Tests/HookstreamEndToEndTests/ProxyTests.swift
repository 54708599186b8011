import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// hookstream behind the proxies its README shows (`deploy/`), the real servers from Debian: nginx and Caddy
/// with TLS and HTTP/2 in front, curl through them, and beside them Debian's node-eventsource, the way header
/// polyfills connect. Events go through at once; heartbeats keep every stream open past nginx's read timeout (the
/// snippet's hour is made 6 s here, the heartbeat 2 s, to show it in seconds rather than minutes); node-eventsource
/// resumes by `Last-Event-ID` after a restart.
@Suite(.timeLimit(.minutes(4))) struct ProxyTests {
    let client = HTTPClient.shared

    static let config = """
        store: { kind: sqlite, path: ./var/hookstream.db }
        streams: { heartbeat: 2s }
        auth:
          tokens: [{ name: web, secret: { value: web-token }, subscribe: ["alerts/**"] }]
        sources: { app: {} }
        rules: [{ name: alerts, source: app, publish: { topic: alerts/all } }]
        """

    /// A self-signed certificate for 127.0.0.1 and localhost, made with openssl.
    private func certificate(in directory: URL) async throws -> (certificate: String, key: String) {
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let made = try await ChildProcess.run(
            "/usr/bin/env",
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", certificate,
             "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        guard made.status == 0 else { throw HarnessError("openssl: \(made.stderr)") }
        return (certificate, key)
    }

    /// nginx closes a stream that sends nothing for this long: the snippet's hour, made short (3 heartbeats).
    static let nginxReadTimeout = 6

    /// nginx with `deploy/nginx-hookstream.conf`, on `port` with TLS and HTTP/2, its read timeout
    /// ``nginxReadTimeout``.
    private func nginx(port: Int, upstream: Int, tls: (certificate: String, key: String), directory: URL) throws -> ChildProcess {
        var server = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("deploy/nginx-hookstream.conf"), encoding: .utf8)
        server = server.replacingOccurrences(of: "listen 443 ssl http2;", with: "listen 127.0.0.1:\(port) ssl http2;")
            .replacingOccurrences(of: "server 127.0.0.1:8080;", with: "server 127.0.0.1:\(upstream);")
            .replacingOccurrences(of: "/etc/ssl/certs/events.example.com.pem", with: tls.certificate)
            .replacingOccurrences(of: "/etc/ssl/private/events.example.com.key", with: tls.key)
            .replacingOccurrences(of: "/var/log/nginx/access.log", with: directory.appendingPathComponent("access.log").path)
            .replacingOccurrences(of: "proxy_read_timeout 1h;", with: "proxy_read_timeout \(Self.nginxReadTimeout)s;")
            .replacingOccurrences(of: "proxy_send_timeout 1h;", with: "proxy_send_timeout \(Self.nginxReadTimeout)s;")
        guard server.contains("proxy_read_timeout \(Self.nginxReadTimeout)s;") else {
            throw HarnessError("deploy/nginx-hookstream.conf no longer has 'proxy_read_timeout 1h;' for the test to shorten")
        }
        // One process (no master and workers), so that stopping it stops everything.
        let config = """
            daemon off;
            master_process off;
            pid \(directory.path)/nginx.pid;
            error_log stderr warn;
            events { worker_connections 256; }
            http {
              client_body_temp_path \(directory.path)/tmp;
              proxy_temp_path \(directory.path)/tmp;
            \(server)
            }
            """
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        try config.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        return try ChildProcess("/usr/sbin/nginx", ["-p", directory.path + "/", "-c", directory.appendingPathComponent("nginx.conf").path])
    }

    /// Caddy with `deploy/Caddyfile`, on `port` with the test's certificate (no ACME, no admin endpoint).
    private func caddy(port: Int, upstream: Int, tls: (certificate: String, key: String), directory: URL) throws -> ChildProcess {
        var site = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("deploy/Caddyfile"), encoding: .utf8)
        site = site.replacingOccurrences(of: "events.example.com {", with: "https://127.0.0.1:\(port) {\n\ttls \(tls.certificate) \(tls.key)")
            .replacingOccurrences(of: "reverse_proxy 127.0.0.1:8080", with: "reverse_proxy 127.0.0.1:\(upstream)")
        let config = "{\n\tadmin off\n\tauto_https off\n\tstorage file_system \(directory.path)/data\n}\n" + site
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try config.write(to: directory.appendingPathComponent("Caddyfile"), atomically: true, encoding: .utf8)
        return try ChildProcess(
            "/usr/bin/caddy", ["run", "--adapter", "caddyfile", "--config", directory.appendingPathComponent("Caddyfile").path],
            environment: ["HOME": directory.path, "XDG_DATA_HOME": directory.path, "XDG_CONFIG_HOME": directory.path])
    }

    /// curl over HTTP/2 and TLS through a proxy, reading the stream.
    private func curlStream(port: Int) throws -> ChildProcess {
        try ChildProcess(
            "/usr/bin/env",
            ["curl", "-sS", "-N", "-k", "--http2", "--max-time", "200", "-w", "\nHTTP_VERSION=%{http_version}\n",
             "-H", "Authorization: Bearer web-token", "https://127.0.0.1:\(port)/events?topic=alerts/**"])
    }

    private func count(_ text: String, in output: String) -> Int { output.components(separatedBy: text).count - 1 }

    @Test func nginxCaddyAndAHeaderPolyfillStayOpenPastTheProxysTimeout() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let first = try await Daemon.start(config: Self.config)
        let tls = try await certificate(in: directory)
        let (nginxPort, caddyPort) = (try freePort(), try freePort())
        let nginx = try nginx(port: nginxPort, upstream: first.port, tls: tls, directory: directory.appendingPathComponent("nginx"))
        let caddy = try caddy(port: caddyPort, upstream: first.port, tls: tls, directory: directory.appendingPathComponent("caddy"))
        defer {
            // SIGKILL (a child of the test process inherits its blocked SIGTERM), to nginx's workers too.
            nginx.killAll()
            caddy.killAll()
        }
        try await waitUntil("nginx") { try await ChildProcess.run("/usr/bin/env", ["curl", "-sk", "https://127.0.0.1:\(nginxPort)/healthz"]).stdout.contains("ok") }
        try await waitUntil(timeout: .seconds(20), "caddy") {
            try await ChildProcess.run("/usr/bin/env", ["curl", "-sk", "https://127.0.0.1:\(caddyPort)/healthz"]).stdout.contains("ok")
        }
        // A token in the query (as a browser's EventSource sends it) does not reach nginx's access log.
        _ = try await ChildProcess.run("/usr/bin/env", ["curl", "-sk", "https://127.0.0.1:\(nginxPort)/healthz?access_token=web-token"])
        let accessLog = directory.appendingPathComponent("nginx/access.log").path
        try await waitUntil("the access log") { (try? String(contentsOfFile: accessLog, encoding: .utf8))?.contains("GET /healthz HTTP") == true }
        #expect(try String(contentsOfFile: accessLog, encoding: .utf8).contains("web-token") == false)
        for port in [nginxPort, caddyPort] {
            let version = try await ChildProcess.run("/usr/bin/env", ["curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version}", "https://127.0.0.1:\(port)/healthz"])
            #expect(version.stdout == "2", "HTTP/2 through the proxy on \(port)")
        }
        // A page of the proxy's own origin, on a port that is not 443, streams with the cookie (the Host that reaches
        // hookstream keeps the port its Origin has); a page of another site is still refused.
        for port in [nginxPort, caddyPort] {
            for (origin, expected) in [("https://127.0.0.1:\(port)", "200"), ("https://elsewhere.example", "403")] {
                let answer = try await ChildProcess.run(
                    "/usr/bin/env",
                    ["curl", "-sk", "--max-time", "2", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Origin: \(origin)",
                     "-H", "Cookie: hookstream_token=web-token", "https://127.0.0.1:\(port)/events?topic=alerts/**"])
                #expect(answer.stdout == expected, "a stream with the cookie from \(origin) through the proxy on \(port)")
            }
        }
        let viaNginx = try curlStream(port: nginxPort)
        let viaCaddy = try curlStream(port: caddyPort)
        let node = try ChildProcess(
            "/usr/bin/env", ["node", TestEnvironment.client("node_eventsource.js"), "\(first.baseURL)/events?topic=alerts/**", "web-token", "3"],
            environment: ["NODE_PATH": "/usr/share/nodejs"])
        let second: Daemon
        do {
            // The first bytes come through at once: nothing is held back by either proxy.
            try await waitUntil(timeout: .seconds(5), "the streams to open") {
                viaNginx.stdout.contains("stream open") && viaCaddy.stdout.contains("stream open") && node.stdout.contains(#"{"open":1}"#)
            }
            let sent = ContinuousClock.now
            #expect(try await client.postWebhook(first, source: "app", json: #"{"n":1}"#) == [1])
            try await waitUntil(timeout: .seconds(2), "the event through both proxies") {
                viaNginx.stdout.contains("id: 1\n") && viaCaddy.stdout.contains("id: 1\n") && node.stdout.contains(#""id":"1""#)
            }
            let latency = ContinuousClock.now - sent
            // Then nothing but heartbeats for more than twice nginx's read timeout.
            let idleStart = ContinuousClock.now
            try await waitUntil(timeout: .seconds(30), "\(2 * Self.nginxReadTimeout + 2) s of heartbeats") {
                ContinuousClock.now - idleStart > .seconds(2 * Self.nginxReadTimeout + 2)
                    && !viaNginx.stdout.contains("HTTP_VERSION") && !viaCaddy.stdout.contains("HTTP_VERSION")
            }
            #expect(count(": heartbeat", in: viaNginx.stdout) >= 4, "heartbeats go through nginx")
            #expect(count(": heartbeat", in: viaCaddy.stdout) >= 4, "and through Caddy")
            #expect(viaNginx.isRunning && viaCaddy.isRunning, "no proxy closed its stream")
            #expect(try await client.postWebhook(first, source: "app", json: #"{"n":2}"#) == [2])
            try await waitUntil(timeout: .seconds(2), "the event after the idle time") {
                viaNginx.stdout.contains("id: 2\n") && viaCaddy.stdout.contains("id: 2\n") && node.stdout.contains(#""id":"2""#)
            }
            #expect(!node.stdout.contains(#"{"open":2}"#), "the polyfill-style client never reconnected while idle")
            print("proxies: first event through both in \(latency)")
            // A restart: node-eventsource comes back by itself and resumes after id 2.
            try await first.stop()
            second = try await Daemon.start(config: Self.config, directory: first.directory, port: first.port)
        } catch {
            _ = try? await first.stop()
            throw error
        }
        do {
            #expect(try await client.postWebhook(second, source: "app", json: #"{"n":3}"#) == [3])
            #expect(try await node.waitForExit(timeout: .seconds(30)) == 0, "\(node.stdout)\(node.stderr)")
            let ids = node.stdoutLines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? String }
            #expect(ids == ["1", "2", "3"])
            #expect(node.stdout.contains(#"{"open":2}"#))
            #expect(second.log.contains("hookstream.last_event_id=2"), "it sent Last-Event-ID")
            viaNginx.signal(SIGKILL)
            viaCaddy.signal(SIGKILL)
            try await second.stop()
        } catch {
            _ = try? await second.stop()
            throw error
        }
    }
}
