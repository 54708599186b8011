import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// hookstream terminating TLS itself, with ALPN `h2` and `http/1.1` on one listener (`server.tls`), against clients
/// nobody here wrote: curl, AsyncHTTPClient, headless Chromium and the PyPI `h2` package. Certificates come from a
/// throwaway CA that each test makes with `openssl`.
@Suite(.timeLimit(.minutes(3))) struct TLSTests {
    static let token = "page-token"

    static func config(certificates: TestCertificates, pageOrigin: String = "http://127.0.0.1:1", queue: Int = 1024, heartbeat: String = "15s") -> String {
        """
        server:
          unix_socket: { path: ./run/hookstream.sock }
          tls:
            certificate: { file: \(certificates.chain) }
            key: { file: \(certificates.key) }
        store: { kind: memory }
        streams: { queue: \(queue), heartbeat: \(heartbeat) }
        auth:
          tokens: [{ name: page, secret: { value: \(token) }, subscribe: ["demo/**"] }]
        cors: { origins: ["\(pageOrigin)"] }
        sources:
          demo: {}
          local: { unix_socket: true }
        rules:
          - { name: demo, source: demo, publish: { topic: "demo/all", data: "{{ body }}" } }
          - { name: local, source: local, publish: { topic: "demo/all", data: "{{ data }}" } }
        """
    }

    /// Publishes `count` events of 8 KiB (`{"n": 1...count, "pad": ...}`) through the daemon's Unix socket.
    static func storePaddedEvents(_ count: Int, in daemon: Daemon) throws {
        let socket = try UnixSocketClient(path: daemon.socketPath)
        let padding = String(repeating: "x", count: 8 * 1024)
        for n in 1...count {
            let answer = try socket.request(#"{"data":{"n":\#(n),"pad":"\#(padding)"}}"#)
            if !answer.contains(#""ok":true"#) { throw HarnessError("event \(n) refused: \(answer)") }
        }
    }

    /// curl over TLS: `-w` prints the protocol version it spoke and the status.
    static func curl(_ arguments: [String], _ certificates: TestCertificates) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await ChildProcess.run("/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", certificates.ca] + arguments)
    }

    @Test func checkReportsEachCertificateProblemAtItsPosition() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let good = try await TestCertificates.make(in: directory.appendingPathComponent("good"))
        let other = try await TestCertificates.make(in: directory.appendingPathComponent("other"))
        func check(certificate: String, key: String) async throws -> (status: Int32, stderr: String) {
            let path = directory.appendingPathComponent("hookstream.yaml").path
            try """
                server:
                  tls:
                    certificate: { file: \(certificate) }
                    key: { file: \(key) }
                sources: { demo: {} }
                rules: []
                """.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try await ChildProcess.run(TestEnvironment.binary, ["check", "--config", path])
            return (result.status, result.stderr)
        }
        let column = "    certificate: { file: ".count + 1

        // Bad input: a certificate path that does not exist.
        let missing = try await check(certificate: "/nonexistent/fullchain.pem", key: good.key)
        #expect(missing.status == 78)
        #expect(missing.stderr.contains("hookstream.yaml:3:\(column): error: cannot read the secret file '/nonexistent/fullchain.pem' (for server.tls.certificate)"), "\(missing.stderr)")

        // Bad input: a key file where the certificate should be.
        let notACertificate = try await check(certificate: good.key, key: good.key)
        #expect(notACertificate.status == 78)
        #expect(notACertificate.stderr.contains("hookstream.yaml:3:\("    certificate: ".count + 1): error: server.tls.certificate holds no certificate"), "\(notACertificate.stderr)")

        // Bad input: the key of another certificate; the message names the problem, never the key's bytes.
        let mismatched = try await check(certificate: good.chain, key: other.key)
        #expect(mismatched.status == 78)
        #expect(mismatched.stderr.contains("hookstream.yaml:4:\("    key: ".count + 1): error: server.tls.key does not belong to the certificate"), "\(mismatched.stderr)")
        let keyText = try String(contentsOfFile: other.key, encoding: .utf8)
        let keyBody = try #require(keyText.split(separator: "\n").dropFirst().first)
        #expect(!mismatched.stderr.contains(keyBody))

        // And a good pair passes. The certificate chain is public: every user may read its file without a warning
        // (it had the secrets' warning); the key is not.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: good.chain)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: good.key)
        let fine = try await check(certificate: good.chain, key: good.key)
        #expect(fine.status == 0, "\(fine.stderr)")
        #expect(fine.stderr.isEmpty, "\(fine.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: good.key)
        let readableKey = try await check(certificate: good.chain, key: good.key)
        #expect(readableKey.status == 0, "\(readableKey.stderr)")
        #expect(readableKey.stderr.hasPrefix("\(directory.path)/hookstream.yaml:4:\("    key: { file: ".count + 1): warning: the secret file '\(good.key)' (for server.tls.key) can be read or written by every user"), "\(readableKey.stderr)")
        #expect(!readableKey.stderr.contains("server.tls.certificate"), "\(readableKey.stderr)")
    }

    @Test func curlAndAsyncHTTPClientSpeakHTTP2AndHTTP1OverTLS() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: certificates), directory: directory)
        var curls: [ChildProcess] = []
        defer { for curl in curls { curl.signal(SIGKILL) } }
        do {
            let base = "https://127.0.0.1:\(daemon.port)"
            for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
                let health = try await Self.curl([flag, "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "\(base)/healthz"], certificates)
                #expect(health.stdout == "\(version) 200", "\(flag): \(health.stderr)")
            }

            // A stream over each protocol; webhooks over each protocol reach both.
            let stream = "\(base)/events?topic=demo/all"
            for flag in ["--http2", "--http1.1"] {
                let curl = try ChildProcess(
                    "/usr/bin/curl", ["-sS", "-N", "--cacert", certificates.ca, flag, "-H", "Authorization: Bearer \(Self.token)", stream])
                curls.append(curl)
            }
            try await waitUntil(timeout: .seconds(20), "both streams") { curls.allSatisfy { $0.stdout.hasPrefix("retry: ") } }
            for (index, flag) in ["--http2", "--http1.1"].enumerated() {
                let posted = try await Self.curl(
                    [flag, "-w", "\n%{http_version} %{http_code}", "-H", "Content-Type: application/json", "-d", #"{"n":\#(index + 1)}"#,
                     "\(base)/hooks/demo"], certificates)
                #expect(posted.stdout.hasSuffix("\(flag == "--http2" ? "2" : "1.1") 202"), "\(posted.stdout) \(posted.stderr)")
                #expect(posted.stdout.contains(#""ids":[\#(index + 1)]"#), "\(posted.stdout)")
            }
            try await waitUntil(timeout: .seconds(10), "both events on both streams") {
                curls.allSatisfy { $0.stdout.contains("data: {\"n\":1}\nid: 1\n") && $0.stdout.contains("data: {\"n\":2}\nid: 2\n") }
            }
            #expect(daemon.log.contains("hookstream.protocol=h2"))
            #expect(daemon.log.contains("hookstream.protocol=http/1.1"))

            // AsyncHTTPClient (ALPN picks h2 by itself) with the test CA as its only trust root.
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(certificates.ca)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
            do {
                var request = HTTPClientRequest(url: "\(base)/hooks/demo")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"n":3}"#))
                let response = try await client.execute(request, timeout: .seconds(10))
                #expect(response.version == .http2)
                #expect(response.status == .accepted)
                let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
                #expect(body.contains(#""ids":[3]"#), "\(body)")
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }

            // A sender that asks before its body (`Expect: 100-continue`) is told to go on over either protocol:
            // over HTTP/2 a HEADERS frame of its own, the stream left open for the body and the answer.
            for (index, (flag, line)) in [("--http2", "< HTTP/2 100"), ("--http1.1", "< HTTP/1.1 100 Continue")].enumerated() {
                let asked = try await Self.curl(
                    [flag, "-v", "--expect100-timeout", "10", "-H", "Expect: 100-continue", "-H", "Content-Type: application/json",
                     "-d", #"{"n":\#(index + 4)}"#, "-w", "\n%{http_code}", "\(base)/hooks/demo"], certificates)
                #expect(asked.stderr.contains(line), "\(flag): \(asked.stderr)")
                #expect(asked.stdout.hasSuffix("\n202") && asked.stdout.contains(#""ids":[\#(index + 4)]"#), "\(flag): \(asked.stdout)")
            }

            // Bad input: plain HTTP to the TLS listener is refused, not answered in clear text, and the server goes on.
            let plain = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--max-time", "10", "http://127.0.0.1:\(daemon.port)/healthz"])
            #expect(plain.status != 0 && !plain.stdout.contains("ok"), "\(plain)")
            // Bad input: a client that offers only TLS 1.1 (OpenSSL's client, its own floor lowered so that it really
            // offers it) is refused by the server's alert: TLS 1.2 and 1.3 only.
            let old = try await ChildProcess.run(
                "/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(daemon.port) -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -CAfile '\(certificates.ca)' < /dev/null"])
            #expect(old.status != 0, "TLS 1.1 handshake refused: \(old.stdout) \(old.stderr)")
            #expect(old.stdout.contains("Cipher is (NONE)"), "no cipher agreed, so no TLS 1.1 session: \(old.stdout)")
            #expect(old.stderr.contains("protocol version"), "the server's alert names the version: \(old.stderr)")
            // Bad input: a client that trusts another CA fails its handshake.
            let stranger = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--max-time", "10", "\(base)/healthz"])
            #expect(stranger.status == 60, "curl: certificate problem: \(stranger.stderr)")
            let again = try await Self.curl(["--http2", "-o", "/dev/null", "-w", "%{http_code}", "\(base)/healthz"], certificates)
            #expect(again.stdout == "200")
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// `hookstream subscribe` over TLS: with `--cacert` it streams; without it, and against a port where nothing
    /// listens, it says at once why it cannot connect and keeps trying, instead of waiting without a word. Bad input:
    /// a server certificate from a CA the client does not trust, a closed port, `--cacert` with a file that is no PEM
    /// and with a plain-HTTP URL.
    @Test func theCLISubscribesOverTLSWithItsCAAndSaysWhyItCannotConnect() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: certificates), directory: directory)
        var processes: [ChildProcess] = []
        defer { for process in processes { process.signal(SIGKILL) } }
        do {
            let base = "https://127.0.0.1:\(daemon.port)"
            func subscribe(_ arguments: [String]) throws -> ChildProcess {
                let process = try ChildProcess(
                    TestEnvironment.binary, ["subscribe"] + arguments + ["--token", Self.token, "--topic", "demo/**", "--json", "--count", "1"])
                processes.append(process)
                return process
            }
            let trusting = try subscribe(["\(base)/events", "--cacert", certificates.ca])  // the stream's URL, for its base
            let stranger = try subscribe([base])
            let nobody = try subscribe(["http://127.0.0.1:1"])
            try await waitUntil(timeout: .seconds(20), "the trusting client's stream") { daemon.log.contains("Stream opened") }
            try await waitUntil(timeout: .seconds(20), "the two others' reasons") {
                stranger.stderr.contains("the TLS handshake failed") && nobody.stderr.contains("Connection refused")
            }
            #expect(stranger.stderr.contains("give it with --cacert FILE"), "\(stranger.stderr)")
            #expect(nobody.stderr.contains("reconnecting in"), "it keeps trying: \(nobody.stderr)")
            let posted = try await Self.curl(["-H", "Content-Type: application/json", "-d", #"{"n":1}"#, "\(base)/hooks/demo"], certificates)
            #expect(posted.stdout.contains(#""ids":[1]"#), "\(posted)")
            #expect(try await trusting.waitForExit(timeout: .seconds(20)) == 0, "\(trusting.stderr)")
            #expect(trusting.stdout.contains(#""data":"{\"n\":1}""#), "\(trusting.stdout)")
            #expect(stranger.stdout.isEmpty && nobody.stdout.isEmpty)

            let notPEM = try await ChildProcess.run(
                TestEnvironment.binary, ["subscribe", base, "--cacert", certificates.chain + ".missing", "--token", "t", "--topic", "a"])
            #expect(notPEM.status != 0 && notPEM.stderr.contains("cannot read the CA file"), "\(notPEM.stderr)")
            let garbage = directory.appendingPathComponent("garbage.pem")
            try Data("not a certificate\n".utf8).write(to: garbage)
            let noCertificate = try await ChildProcess.run(
                TestEnvironment.binary, ["subscribe", base, "--cacert", garbage.path, "--token", "t", "--topic", "a"])
            #expect(noCertificate.status != 0 && noCertificate.stderr.contains("holds no PEM certificate"), "\(noCertificate.stderr)")
            let plain = try await ChildProcess.run(
                TestEnvironment.binary, ["subscribe", "http://127.0.0.1:1", "--cacert", certificates.ca, "--token", "t", "--topic", "a"])
            #expect(plain.status != 0 && plain.stderr.contains("--cacert is for an https:// URL"), "\(plain.stderr)")
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// Ten `EventSource`s in one page: over TLS they share one HTTP/2 connection and all of them stream; over plain
    /// HTTP/1.1 the browser opens six connections to the host and the other four wait.
    @Test func tenEventSourcesInOnePageShareOneHTTP2Connection() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let pagePort = try freePort()
        let config = Self.config(certificates: certificates, pageOrigin: "http://127.0.0.1:\(pagePort)")
        let daemon = try await Daemon.start(config: config, directory: directory)
        do {
            let url = "https://127.0.0.1:\(daemon.port)/events?topic=demo/all&access_token=\(Self.token)"
            let page = try WebAppTests.page(
                port: pagePort, cookie: nil, script: Self.tenSources(url), ready: "R.opens === 10", until: "R.ids.every(ids => ids.length >= 3)",
                result: "{ids: R.ids, opens: R.opens, states: R.sources.map(s => s.readyState)}",
                chromiumArguments: ["--ignore-certificate-errors-spki-list=\(certificates.spkiHash)"])
            try await waitUntil(timeout: .seconds(40), "ten open streams in the page") {
                if !page.isRunning { throw HarnessError("web_page ended: \(page.stderr) \(page.stdout)") }
                return page.stdout.contains(#"{"ready": true}"#)
            }
            for n in 1...3 {
                let posted = try await Self.curl(["--http2", "-H", "Content-Type: application/json", "-d", #"{"n":\#(n)}"#, "https://127.0.0.1:\(daemon.port)/hooks/demo"], certificates)
                #expect(posted.stdout.contains(#""ids":[\#(n)]"#), "\(posted)")
            }
            let tab = try #require(try await WebAppTests.result(of: page).first)
            let ids = try #require(tab["ids"] as? [[String]])
            #expect(ids.count == 10)
            #expect(ids.allSatisfy { $0 == ["1", "2", "3"] }, "\(ids)")
            #expect(tab["opens"] as? Int == 10)

            // One connection: every stream was opened over h2, from one client address and port.
            let opened = daemon.log.split(separator: "\n").filter { $0.contains("Stream opened") }
            #expect(opened.count == 10)
            #expect(opened.allSatisfy { $0.contains("hookstream.protocol=h2") })
            let peers = Set(opened.compactMap { $0.firstMatch(of: /hookstream\.peer=(\S+)/).map { String($0.1) } })
            #expect(peers.count == 1, "\(peers)")
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }

        // The same page over plain HTTP/1.1: Chromium's limit of six connections per host, as a documented fact.
        let plainPagePort = try freePort()
        let plainDirectory = try TestEnvironment.makeTemporaryDirectory()
        let plainConfig = Self.config(certificates: certificates, pageOrigin: "http://127.0.0.1:\(plainPagePort)")
            .replacingOccurrences(of: "  tls:\n    certificate: { file: \(certificates.chain) }\n    key: { file: \(certificates.key) }\n", with: "")
        #expect(!plainConfig.contains("tls:"))
        try await withDaemon(config: plainConfig, directory: plainDirectory) { plain in
            let url = "http://127.0.0.1:\(plain.port)/events?topic=demo/all&access_token=\(Self.token)"
            let page = try WebAppTests.page(
                port: plainPagePort, cookie: nil, script: Self.tenSources(url) + "setTimeout(() => R.settled = true, 3000);",
                ready: "R.opens === 6", until: "R.settled === true && R.ids.filter(ids => ids.length >= 1).length === 6",
                result: "{ids: R.ids, opens: R.opens, states: R.sources.map(s => s.readyState)}")
            try await waitUntil(timeout: .seconds(40), "six open streams in the page") {
                if !page.isRunning { throw HarnessError("web_page ended: \(page.stderr) \(page.stdout)") }
                return page.stdout.contains(#"{"ready": true}"#)
            }
            #expect(try await HTTPClient.shared.postWebhook(plain, json: #"{"n":1}"#) == [1])
            let tab = try #require(try await WebAppTests.result(of: page).first)
            let states = try #require(tab["states"] as? [Int])
            #expect(tab["opens"] as? Int == 6, "\(tab)")
            #expect(states.filter { $0 == 1 }.count == 6, "six OPEN: \(states)")
            #expect(states.filter { $0 == 0 }.count == 4, "four still CONNECTING: \(states)")
            #expect((tab["ids"] as? [[String]])?.filter { $0 == ["1"] }.count == 6)
        }
    }

    /// One HTTP/2 connection with three streams, one of which never gives back its flow-control window: it is cut
    /// (its queue of 8 events fills once the window and the stream's buffer are full), and the other two receive
    /// every event, in order, on the same connection. The events go out in steps of 10, each once the reading
    /// streams have the last: Python's h2 on a busy machine reads more slowly than the daemon publishes, and a
    /// connection that falls 8 events behind is rightly cut, its reading streams with it.
    @Test func aStalledHTTP2StreamIsCutWithoutStallingItsNeighbours() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: certificates, queue: 8), directory: directory)
        let total = 200
        let client = try ChildProcess(TestEnvironment.python, [
            TestEnvironment.client("h2_streams.py"), "--port", String(daemon.port), "--cafile", certificates.ca, "--path", "/events?topic=demo/all",
            "--token", Self.token, "--reading", "2", "--stalled", "1", "--expect", String(total), "--timeout", "60", "--progress",
        ])
        /// The fewest events a reading stream has.
        func progress() -> Int {
            client.stdoutLines.last { $0.hasPrefix(#"{"progress""#) }
                .flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Int])?["progress"] } ?? 0
        }
        do {
            try await waitUntil(timeout: .seconds(20), "three streams on one connection") {
                if !client.isRunning { throw HarnessError("h2_streams ended: \(client.stderr) \(client.stdout)") }
                return client.stdout.contains(#""ready": true"#)
            }
            #expect(client.stdout.contains(#""statuses": ["200"]"#), "\(client.stdout)")
            let socket = try UnixSocketClient(path: daemon.socketPath)
            let padding = String(repeating: "x", count: 4096)
            for n in 1...total {
                let answer = try socket.request(#"{"data":{"n":\#(n),"pad":"\#(padding)"}}"#)
                #expect(answer.contains(#""ok":true"#), "\(answer)")
                if n % 10 == 0 {
                    try await waitUntil("the reading streams to have event \(n)") {
                        if !client.isRunning { throw HarnessError("h2_streams ended: \(client.stdout)") }
                        return progress() >= n
                    }
                }
            }
            #expect(try await client.waitForExit(timeout: .seconds(60)) == 0, "\(client.stdout) \(client.stderr)")
            let line = try #require(client.stdoutLines.last { $0.hasPrefix(#"{"result""#) })
            let result = try #require((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["result"] as? [String: Any])
            let reading = try #require(result["reading"] as? [String: [Int]])
            #expect(reading.count == 2)
            #expect(reading.values.allSatisfy { $0 == Array(1...total) }, "every event, once, in order, on both reading streams")
            #expect((result["stalled"] as? [String: String])?.values.first == "reset", "\(result)")
            #expect(daemon.log.contains("Subscriber cut"))
            try await daemon.stop()
        } catch {
            client.signal(SIGKILL)
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// The daemon stops while three event streams share one HTTP/2 connection: a GOAWAY with no error, naming the
    /// last stream, comes first, so the client opens its next streams elsewhere; then each stream ends with the
    /// stop's `retry:`, and the connection closes behind a last GOAWAY once the last stream has ended.
    @Test func aStoppingDaemonSaysGoAwayBeforeItEndsTheHTTP2Streams() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: certificates), directory: directory)
        let client = try ChildProcess(TestEnvironment.python, [
            TestEnvironment.client("h2_stop.py"), "--port", String(daemon.port), "--cafile", certificates.ca, "--path", "/events?topic=demo/all",
            "--token", Self.token, "--streams", "3", "--timeout", "60",
        ])
        do {
            try await waitUntil(timeout: .seconds(20), "three streams on one connection") {
                if !client.isRunning { throw HarnessError("h2_stop ended: \(client.stderr) \(client.stdout)") }
                return client.stdout.contains(#""ready": true"#)
            }
            #expect(client.stdout.contains(#""statuses": ["200"]"#), "\(client.stdout)")
            #expect(try await daemon.stop().status == 0)
            #expect(try await client.waitForExit(timeout: .seconds(30)) == 0, "\(client.stdout) \(client.stderr)")
            let lines = try client.stdoutLines.dropFirst().map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            }
            let told: Comment = "\(client.stdoutLines)"
            try #require(lines.count == 6, told)
            #expect(lines[0]["goaway"] as? Int == 5, told)
            #expect(lines[0]["error"] as? String == "NO_ERROR", told)
            let ends = lines[1...3]
            #expect(Set(ends.compactMap { $0["ended"] as? Int }) == [1, 3, 5], told)
            #expect(ends.allSatisfy { ($0["retry"] as? Int ?? 0) >= 250 }, "each stream told when to come back: \(told)")
            #expect(lines[4]["goaway"] as? Int == 5, told)
            #expect(lines[5]["closed"] as? Bool == true, told)
        } catch {
            client.signal(SIGKILL)
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// Bad input: an HTTP/2 client that stops reading its socket altogether, its HTTP/2 windows wide open, so that
    /// only TCP holds the server back. Its streams are cut for falling behind; their RST_STREAM frames cannot go
    /// out either, so the connection is closed within the grace, and the token's stream quota comes back (it stayed
    /// taken until the client went away).
    @Test func streamsCutOnAConnectionThatTakesNothingAreClosedWithIt() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let config = Self.config(certificates: certificates, queue: 8).replacingOccurrences(
            of: "  tokens: [", with: "  max_streams_per_token: 2\n  tokens: [")
        #expect(config.contains("max_streams_per_token: 2"))
        let daemon = try await Daemon.start(config: config, directory: directory)
        let client = try ChildProcess(TestEnvironment.python, [
            TestEnvironment.client("h2_frozen.py"), "--port", String(daemon.port), "--cafile", certificates.ca, "--path", "/events?topic=demo/all",
            "--token", Self.token, "--streams", "2",
        ])
        defer { client.signal(SIGKILL) }
        do {
            try await waitUntil(timeout: .seconds(20), "two streams on one connection") {
                if !client.isRunning { throw HarnessError("h2_frozen ended: \(client.stderr) \(client.stdout)") }
                return client.stdout.contains(#""ready": true"#)
            }
            #expect(client.stdout.contains(#""statuses": ["200"]"#), "\(client.stdout)")
            let quotaTaken = try await Self.curl(["--http2", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(Self.token)", "\(daemon.baseURL.replacingOccurrences(of: "http:", with: "https:"))/events?topic=demo/all"], certificates)
            #expect(quotaTaken.stdout == "429", "both streams of the token are open: \(quotaTaken)")

            // 8 KiB events until both streams are cut: the kernel's buffers first, then NIO's, then 8 events each.
            let socket = try UnixSocketClient(path: daemon.socketPath)
            let padding = String(repeating: "x", count: 8 * 1024)
            var published = 0
            while daemon.log.components(separatedBy: "Subscriber cut").count - 1 < 2, published < 3_000 {
                published += 1
                let answer = try socket.request(#"{"data":{"n":\#(published),"pad":"\#(padding)"}}"#)
                #expect(answer.contains(#""ok":true"#), "\(answer)")
            }
            try await waitUntil(timeout: .seconds(10), "both streams cut (after \(published) events)") {
                daemon.log.components(separatedBy: "Subscriber cut").count - 1 == 2
            }
            // A stream that opens runs until curl's --max-time, its status 200; while the quota is taken, 429 at once.
            var last = ""
            let quotaBy = ContinuousClock.now + .seconds(20)
            while !last.hasPrefix("200"), ContinuousClock.now < quotaBy {
                if !last.isEmpty { try await Task.sleep(for: .milliseconds(200)) }  // polled, not a tight loop of processes
                let result = try await ChildProcess.run("/usr/bin/curl", [
                    "-sS", "--max-time", "1", "--cacert", certificates.ca, "--http2", "-o", "/dev/null", "-w", "%{http_code}",
                    "-H", "Authorization: Bearer \(Self.token)", "\(daemon.baseURL.replacingOccurrences(of: "http:", with: "https:"))/events?topic=demo/all",
                ])
                last = "\(result.stdout) \(result.stderr)"
            }
            #expect(last.hasPrefix("200"), "the token's stream quota came back: \(last)")
            let closedByTheServer = daemon.log.contains("HTTP/2 connection closed")
            #expect(closedByTheServer)
            #expect(client.isRunning, "the client is still there, reading nothing: the server closed the connection")
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// A daemon over TLS with 12 MiB stored on a quiet topic (more than the kernel's buffers and a replay page of 2 MiB
    /// hold), and an HTTP/2 client that resumes it from the start and reads nothing, once its stream is open.
    private static func frozenResumingClient(heartbeat: String) async throws -> (Daemon, ChildProcess) {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: certificates, heartbeat: heartbeat), directory: directory)
        do {
            try Self.storePaddedEvents(1_500, in: daemon)
            let client = try ChildProcess(TestEnvironment.python, [
                TestEnvironment.client("h2_frozen.py"), "--port", String(daemon.port), "--cafile", certificates.ca, "--path", "/events?topic=demo/all",
                "--token", Self.token, "--last-event-id", "0",
            ])
            try await waitUntil(timeout: .seconds(20), "the resuming stream opened") {
                if !client.isRunning { throw HarnessError("h2_frozen ended: \(client.stderr) \(client.stdout)") }
                return client.stdout.contains(#""ready": true"#)
            }
            return (daemon, client)
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// Bad input: an HTTP/2 client that resumes on a quiet topic and reads nothing. No live event counts against its
    /// queue; its replay fills what the connection holds and waits. Over HTTP/2 the stream does not say how many
    /// bytes it holds, so the server counts the writes that complete: none between two heartbeats, and the stream
    /// is cut (then its connection closed, since the connection takes nothing for it either).
    @Test func aResumingHTTP2StreamThatTakesNothingOnAQuietTopicIsCut() async throws {
        let (daemon, client) = try await Self.frozenResumingClient(heartbeat: "500ms")
        defer { client.signal(SIGKILL) }
        do {
            #expect(client.stdout.contains(#""statuses": ["200"]"#), "\(client.stdout)")
            try await waitUntil(timeout: .seconds(20), "the replay stopped") {
                daemon.log.contains("Replay stopped: its client took nothing for a heartbeat period")
            }
            #expect(daemon.log.contains("Subscriber cut"))
            try await waitUntil(timeout: .seconds(20), "its connection closed") { daemon.log.contains("HTTP/2 connection closed") }
            #expect(client.isRunning, "the client is still there, reading nothing: the server ended the stream")
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// Bad input: an HTTP/2 client over TLS that resumes 12 MiB of history and reads nothing, while the daemon stops.
    /// Closing its connection waits for a close_notify it will never send (swift-nio-ssl's default wait is 5 s), and the
    /// replay waits for its writes until the connection is closed: the stop ran past its 1.5 s and
    /// swift-service-lifecycle ended the process with a fatal error. The daemon exits 0 within 2 s.
    @Test func aStopDoesNotWaitForATLSClientThatReadsNothing() async throws {
        let (daemon, client) = try await Self.frozenResumingClient(heartbeat: "15s")
        defer { client.signal(SIGKILL) }
        do {
            let (status, duration) = try await daemon.stop()
            #expect(status == 0, "\(daemon.log.suffix(3000))")
            #expect(duration < .seconds(2), "the stop took \(duration)")
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// The other side of the cut above: an HTTP/2 client that resumes and reads its replay slowly (64 KiB a second,
    /// 32 KiB per heartbeat period of 500 ms, with its stream over its mark all along) is seen taking it, and gets
    /// every event.
    @Test func aResumingHTTP2StreamThatReadsSlowlyIsNotCut() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: certificates, heartbeat: "500ms"), directory: directory)
        try Self.storePaddedEvents(150, in: daemon)
        let client = try ChildProcess(TestEnvironment.python, [
            TestEnvironment.client("h2_frozen.py"), "--port", String(daemon.port), "--cafile", certificates.ca, "--path", "/events?topic=demo/all",
            "--token", Self.token, "--last-event-id", "0", "--read-rate", "65536", "--until-id", "150", "--hold", "90",
        ])
        defer { client.signal(SIGKILL) }
        do {
            let status = try await client.waitForExit(timeout: .seconds(100))
            #expect(status == 0, "\(client.stdout) \(client.stderr)")
            #expect(client.stdout.contains(#"{"last_id": 150, "events": 150}"#), "\(client.stdout)")
            #expect(!daemon.log.contains("Replay stopped"))
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// Bad input: an HTTP/2 client that reads its socket but never gives its streams a window (SETTINGS_INITIAL_WINDOW_SIZE
    /// 0), resuming on two streams a history of one replay page (50 events, 400 KiB) on a quiet topic. Each page is
    /// written to its stream, where it stays; the replay has ended and the stream is live, so no replay rule and no
    /// queue ever cut it, and the page was held for as long as the client stayed, outside `replay_bytes` (24 such
    /// connections of 64 streams: 650 MB). The last page counts against the budget until it is written (with 1 MiB,
    /// the second stream's replay waits for the first's), and a stream is cut once it has taken nothing for the live
    /// grace, seen at its heartbeats; the connection stays.
    @Test func aLiveHTTP2StreamWhoseClientGivesItNoWindowIsCut() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let config = Self.config(certificates: certificates, heartbeat: "500ms").replacingOccurrences(
            of: "  tls:\n", with: "  limits: { replay_bytes: 1MiB }\n  tls:\n")
        let daemon = try await Daemon.start(config: config, directory: directory)
        do {
            try Self.storePaddedEvents(50, in: daemon)
            let client = try ChildProcess(TestEnvironment.python, [
                TestEnvironment.client("h2_frozen.py"), "--port", String(daemon.port), "--cafile", certificates.ca, "--path", "/events?topic=demo/all",
                "--token", Self.token, "--last-event-id", "0", "--stream-window", "0", "--streams", "2", "--read-rate", "65536", "--until-id", "50",
                "--hold", "60",
            ])
            defer { client.signal(SIGKILL) }
            let status = try await client.waitForExit(timeout: .seconds(70))
            #expect(status == 0, "\(client.stdout) \(client.stderr)")
            #expect(client.stdout.contains(#""statuses": ["200"]"#), "\(client.stdout)")
            #expect(client.stdout.contains(#"{"ended": "reset", "last_id": null, "resets": 2}"#), "both streams were reset, having delivered nothing: \(client.stdout)")
            try await waitUntil(timeout: .seconds(10), "both cuts in the log") {
                daemon.log.components(separatedBy: "Live stream stopped: its client took nothing").count - 1 == 2
            }
            // The second stream's replay had its page only once the first stream's was let go, at its cut: its own cut
            // came a grace later (with the last page outside the budget, both came within the same second or two).
            let cuts = daemon.log.split(separator: "\n").filter { $0.contains("Live stream stopped") }.compactMap {
                ISO8601DateFormatter().date(from: String($0.prefix(24)))
            }
            #expect(cuts.count == 2 && cuts[1].timeIntervalSince(cuts[0]) >= 4, "\(cuts)")
            #expect(daemon.log.contains("Replay waiting: the pages of other replays fill server.limits.replay_bytes"), "\(daemon.log.suffix(3000))")
            #expect(daemon.log.contains("Subscriber cut"))
            #expect(!daemon.log.contains("Replay stopped"), "the replay had ended: the stream was live")
            #expect(!daemon.log.contains("HTTP/2 connection closed"), "its connection took the reset: it stays")
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// `server.limits.h2_streams`: what each new HTTP/2 connection announces (128 by default, a reload's value for
    /// connections after it). Bad input: a client that ignores the limit and opens one stream more than it allows
    /// loses the connection (GOAWAY, PROTOCOL_ERROR); the streams it was allowed had their answer first.
    @Test func http2ConnectionsAnnounceTheStreamLimitAndAClientPastItLosesTheConnection() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: certificates), directory: directory)
        do {
            func open(_ count: Int) async throws -> [String: Any] {
                let run = try await ChildProcess.run(TestEnvironment.python, [
                    TestEnvironment.client("h2_limit.py"), "--port", String(daemon.port), "--cafile", certificates.ca,
                    "--path", "/events?topic=demo/all", "--token", Self.token, "--open", String(count),
                ])
                #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
                return try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout) \(run.stderr)")
            }
            let byDefault = try await open(3)
            #expect(byDefault["max_concurrent_streams"] as? Int == 128, "\(byDefault)")
            #expect(byDefault["statuses"] as? [String: String] == ["1": "200", "3": "200", "5": "200"], "\(byDefault)")

            let limited = Self.config(certificates: certificates).replacingOccurrences(
                of: "  tls:\n", with: "  limits: { h2_streams: 2 }\n  tls:\n")
            try limited.write(toFile: directory.appendingPathComponent("hookstream.yaml").path, atomically: true, encoding: .utf8)
            daemon.child.signal(SIGHUP)
            try await waitUntil(timeout: .seconds(10), "the reload") { daemon.log.contains("config reloaded") }
            let allowed = try await open(2)
            #expect(allowed["max_concurrent_streams"] as? Int == 2, "\(allowed)")
            #expect(allowed["statuses"] as? [String: String] == ["1": "200", "3": "200"], "\(allowed)")
            #expect(allowed["goaway"] is NSNull, "\(allowed)")
            let past = try await open(3)
            #expect(past["max_concurrent_streams"] as? Int == 2, "\(past)")
            #expect(past["goaway"] as? Int == 1, "PROTOCOL_ERROR: \(past)")
            #expect((past["statuses"] as? [String: String])?["5"] == nil, "\(past)")
            try await waitUntil(timeout: .seconds(10), "the streams' counts back to none") {
                let metrics = try await Self.curl(["--http1.1", "https://127.0.0.1:\(daemon.port)/metrics"], certificates)
                let line = metrics.stdout.split(separator: "\n").first { $0.hasPrefix("hookstream_streams_open ") }
                return line.flatMap { Double($0.split(separator: " ").last ?? "") } == 0
            }
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// `server.hosts` applies to plain-HTTP listeners only, decided by what the listener speaks, not by the
    /// configuration in force. Bad input: a request under a name not listed (`rebind.test`, as a DNS-rebinding page
    /// sends it), to a plain listener before and after a reload that adds `server.tls` (which takes a restart, so the
    /// listener stays plain and keeps refusing it), and to a TLS listener, where a page under that name would not
    /// get past the certificate, and which answers it.
    @Test func theHostIsCheckedOnAPlainListenerEvenAfterAReloadAddsTLS() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let withTLS = Self.config(certificates: certificates)
        let plain = withTLS.replacingOccurrences(
            of: "  tls:\n    certificate: { file: \(certificates.chain) }\n    key: { file: \(certificates.key) }\n", with: "")
        #expect(!plain.contains("tls:"))
        func status(_ url: String, host: String) async throws -> String {
            try await Self.curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: \(host)", url], certificates).stdout
        }
        try await withDaemon(config: plain, directory: directory) { daemon in
            #expect(try await status("\(daemon.baseURL)/metrics", host: "rebind.test") == "403")
            try withTLS.write(toFile: directory.appendingPathComponent("hookstream.yaml").path, atomically: true, encoding: .utf8)
            daemon.child.signal(SIGHUP)
            try await waitUntil(timeout: .seconds(10), "the reload") { daemon.log.contains("server.tls (on or off") }
            #expect(try await status("\(daemon.baseURL)/metrics", host: "rebind.test") == "403", "the listener is still plain, and still checks")
            #expect(try await status("\(daemon.baseURL)/metrics", host: "127.0.0.1:\(daemon.port)") == "200")
        }
        try await withDaemon(config: withTLS) { (daemon: Daemon) async throws in
            #expect(try await status("https://127.0.0.1:\(daemon.port)/metrics", host: "rebind.test") == "200")
        }
    }

    /// A client over TLS that ends its side once its requests are sent gets every answer, then the server's end, as
    /// over plain TCP: both with TLS's close_notify (the TCP connection still open both ways) and with a bare TCP end
    /// (no close_notify). Before, the connection closed at the client's end over TLS, and webhooks already published
    /// went unanswered, for their sender to send again.
    @Test(arguments: ["close-notify", "fin"])
    func aTLSClientThatEndsItsSideAfterItsRequestsGetsEveryAnswer(end: String) async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: certificates), directory: directory)
        do {
            var published = 0
            for count in [1, 100] {  // 100: past the answers owed at once, so reading pauses before the end is seen
                let run = try await ChildProcess.run(
                    TestEnvironment.python,
                    [TestEnvironment.client("tls_half_close_client.py"), "\(daemon.port)", certificates.ca, "pipeline", "\(count)", "--end", end])
                #expect(run.status == 0, "\(end) \(count): \(run.stderr)")
                let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
                #expect(result["statuses"] as? [Int] == Array(repeating: 202, count: count), "\(end) \(count): \(run.stdout)")
                #expect(
                    (result["bodies"] as? [String])?.last == "{\"ids\":[\(published + count)],\"topics\":[\"demo/all\"]}\n", "\(end) \(count): \(run.stdout)")
                #expect(result["closed"] as? Bool == true, "the server ends the connection once it has answered")
                published += count
            }
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// Bad input: a 4 MiB webhook body against the 1 MiB limit over TLS, refused (413) by its `Content-Length` while
    /// the client is still uploading it. The server sends its close_notify and ends its TCP side after the answer, and
    /// drops what still comes until the client closes, so the client reads the whole 413 and its further writes
    /// succeed, as over plain TCP (`HTTPStatusTests`). (Before half-closure over TLS, swift-nio-ssl's full close did
    /// the same by waiting for the client's close_notify; this keeps it so.)
    @Test func aBodyRefusedWhileItIsUploadedOverTLSLeavesTheClientTheAnswer() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: certificates), directory: directory)
        do {
            let run = try await ChildProcess.run(
                TestEnvironment.python, [TestEnvironment.client("tls_half_close_client.py"), "\(daemon.port)", certificates.ca, "refused-upload"])
            try HTTPStatusTests.expectRefusedUploadAnswered(run)
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// A renewed certificate (new files at the same paths, then SIGHUP) is what new connections get; a stream opened
    /// under the old one keeps streaming.
    @Test func aReloadRenewsTheCertificateForNewConnectionsAndOpenStreamsStay() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let old = try await TestCertificates.make(in: directory.appendingPathComponent("tls"))
        let daemon = try await Daemon.start(config: Self.config(certificates: old), directory: directory)
        let base = "https://127.0.0.1:\(daemon.port)"
        let stream = try ChildProcess(
            "/usr/bin/curl", ["-sS", "-N", "--cacert", old.ca, "--http2", "-H", "Authorization: Bearer \(Self.token)", "\(base)/events?topic=demo/all"])
        defer { stream.signal(SIGKILL) }
        do {
            try await waitUntil(timeout: .seconds(20), "the stream") { stream.stdout.hasPrefix("retry: ") }
            // The renewal: another CA's certificate and key written over the same files.
            let renewed = try await TestCertificates.make(in: directory.appendingPathComponent("renewed"))
            for (from, to) in [(renewed.chain, old.chain), (renewed.key, old.key)] {
                try Data(contentsOf: URL(fileURLWithPath: from)).write(to: URL(fileURLWithPath: to))
            }
            daemon.child.signal(SIGHUP)
            try await waitUntil(timeout: .seconds(10), "the reload") { daemon.log.contains("config reloaded") }

            let withNewCA = try await Self.curl(["--http2", "-o", "/dev/null", "-w", "%{http_code}", "\(base)/healthz"], renewed)
            #expect(withNewCA.stdout == "200", "\(withNewCA.stderr)")
            let withOldCA = try await Self.curl(["--http2", "-o", "/dev/null", "\(base)/healthz"], old)
            #expect(withOldCA.status == 60, "the old CA no longer verifies new connections: \(withOldCA.stderr)")

            let posted = try await Self.curl(["--http2", "-H", "Content-Type: application/json", "-d", #"{"after":"renewal"}"#, "\(base)/hooks/demo"], renewed)
            #expect(posted.stdout.contains(#""ids":[1]"#), "\(posted)")
            try await waitUntil(timeout: .seconds(10), "the event on the stream opened before the renewal") {
                stream.stdout.contains(#"data: {"after":"renewal"}"# + "\n" + #"id: 1"#)
            }
            #expect(stream.isRunning)

            // Bad input for a reload: `server.tls` taken out. TLS on or off takes a restart: the port goes on speaking
            // TLS with the renewed certificate (it answered cleartext HTTP before), and the log says so.
            let plain = Self.config(certificates: old).replacingOccurrences(
                of: "  tls:\n    certificate: { file: \(old.chain) }\n    key: { file: \(old.key) }\n", with: "")
            #expect(!plain.contains("tls:"))
            try plain.write(toFile: directory.appendingPathComponent("hookstream.yaml").path, atomically: true, encoding: .utf8)
            daemon.child.signal(SIGHUP)
            try await waitUntil(timeout: .seconds(10), "the second reload") { daemon.log.contains("server.tls (on or off") }
            let afterDrop = try await Self.curl(["--http1.1", "-o", "/dev/null", "-w", "%{http_code}", "\(base)/healthz"], renewed)
            #expect(afterDrop.stdout == "200", "\(afterDrop.stderr)")
            let cleartext = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(daemon.port)/healthz"])
            #expect(cleartext.stdout != "200", "no cleartext HTTP on the TLS port")
            #expect(stream.isRunning)
            // `server.tls` put back: nothing to restart for (the listener never stopped speaking TLS).
            try Self.config(certificates: old).write(toFile: directory.appendingPathComponent("hookstream.yaml").path, atomically: true, encoding: .utf8)
            daemon.child.signal(SIGHUP)
            try await waitUntil(timeout: .seconds(10), "the third reload") { daemon.log.components(separatedBy: "config reloaded").count - 1 >= 4 }
            // A line logged after the reload's own (a stream refused for want of a token): the log is read through a
            // pipe, in order, so once it is in, so is anything the reload logged.
            _ = try await Self.curl(["--http1.1", "-o", "/dev/null", "\(base)/events?topic=demo/all"], renewed)
            try await waitUntil(timeout: .seconds(10), "the refusal after the reload") { daemon.log.contains("Stream refused") }
            #expect(daemon.log.components(separatedBy: "server.tls (on or off").count - 1 == 1, "only the reload that dropped it needs a restart")
            try await daemon.stop()
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    static func tenSources(_ url: String) -> String {
        """
        window.R = {opens: 0, ids: [], sources: []};
        for (let i = 0; i < 10; i++) {
          const source = new EventSource(\(WebAppTests.json(url)));
          R.sources.push(source); R.ids.push([]);
          source.onopen = () => R.opens++;
          source.onmessage = e => R.ids[i].push(e.lastEventId);
        }
        """
    }
}

/// A throwaway CA and a certificate for 127.0.0.1 that it signed (ECDSA P-256), made with `openssl`.
struct TestCertificates {
    /// The CA's certificate: what clients trust.
    let ca: String
    /// The server's certificate followed by the CA's.
    let chain: String
    /// The server's private key.
    let key: String
    /// base64 SHA-256 of the server certificate's public key: Chromium's `--ignore-certificate-errors-spki-list`.
    let spkiHash: String

    static func make(in directory: URL) async throws -> TestCertificates {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = """
            set -e
            cd '\(directory.path)'
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=hookstream test CA' 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out leaf.csr -subj '/CN=127.0.0.1' 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > leaf.ext
            openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext -out leaf.pem 2>/dev/null
            cat leaf.pem ca.pem > fullchain.pem
            openssl x509 -in leaf.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64
            """
        let result = try await ChildProcess.run("/bin/sh", ["-c", script])
        guard result.status == 0 else { throw HarnessError("openssl failed: \(result.stderr)") }
        return TestCertificates(
            ca: directory.appendingPathComponent("ca.pem").path, chain: directory.appendingPathComponent("fullchain.pem").path,
            key: directory.appendingPathComponent("key.pem").path, spkiHash: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
