import AsyncHTTPClient
import NIOHTTP1
import Foundation
import Testing

/// Every status the HTTP API promises, against the real binary on the default config, with AsyncHTTPClient.
@Suite(.timeLimit(.minutes(2))) struct HTTPStatusTests {
    let client = HTTPClient.shared

    @Test func healthAndReadiness() async throws {
        try await withDaemon { daemon in
            let health = try await client.send(.GET, "\(daemon.baseURL)/healthz")
            #expect(health.status == 200)
            #expect(health.body.contains(#""status":"ok""#))
            let ready = try await client.send(.GET, "\(daemon.baseURL)/readyz")
            #expect(ready.status == 200)
        }
    }

    /// `HEAD` where `GET` answers (uptime monitors send it): the same status and `Content-Length`, no body. Python's
    /// `http.client` reads six answers in turn on one keep-alive connection, so a body sent after a HEAD answer
    /// (the 404's and 405's too) would be read as the next status line and fail the run.
    @Test func headAnswersLikeGetWithoutTheBody() async throws {
        try await withDaemon { daemon in
            let script = """
                import http.client, json, sys
                connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
                out = []
                for method, path in [("HEAD", "/healthz"), ("GET", "/healthz"), ("HEAD", "/nope"), ("HEAD", "/hooks/demo"),
                                     ("HEAD", "/metrics"), ("GET", "/readyz")]:
                    connection.request(method, path)
                    response = connection.getresponse()
                    body = response.read().decode()
                    out.append({"status": response.status, "length": response.getheader("Content-Length"), "body": body,
                                "allow": response.getheader("Allow")})
                print(json.dumps(out))
                """
            let run = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", script, String(daemon.port)])
            #expect(run.status == 0, "\(run.stderr)")
            let answers = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]], "\(run.stdout)")
            #expect(answers.map { $0["status"] as? Int } == [200, 200, 404, 405, 200, 200], "\(answers)")
            #expect(answers[0]["body"] as? String == "" && answers[1]["body"] as? String == #"{"status":"ok"}"# + "\n")
            #expect(answers[0]["length"] as? String == String((answers[1]["body"] as? String ?? "").utf8.count), "HEAD's length is GET's")
            #expect(answers[2]["body"] as? String == "" && Int(answers[2]["length"] as? String ?? "0")! > 0)
            #expect(answers[3]["allow"] as? String == "POST, PUT, PATCH, OPTIONS", "a webhook's methods, and its CORS preflight")
            #expect(answers[4]["body"] as? String == "" && Int(answers[4]["length"] as? String ?? "0")! > 0)
            #expect(answers[5]["body"] as? String == #"{"status":"ready"}"# + "\n")
        }
    }

    @Test func webhookAnswersIdsAndTopics() async throws {
        try await withDaemon { daemon in
            let first = try await client.send(.POST, "\(daemon.baseURL)/hooks/demo", body: #"{"channel":"ops","type":"deploy"}"#, headers: [("Content-Type", "application/json")])
            #expect(first.status == 202)
            #expect(first.body == "{\"ids\":[1],\"topics\":[\"demo/ops\"]}\n")
            let second = try await client.send(.POST, "\(daemon.baseURL)/hooks/demo", body: #"{"n":1}"#, headers: [("Content-Type", "application/json; charset=utf-8")])
            #expect(second.status == 202)
            #expect(second.body == "{\"ids\":[2],\"topics\":[\"demo/general\"]}\n")
        }
    }

    @Test func pipelinedWebhooksAreAnsweredInOrderWithIdsInRequestOrder() async throws {
        try await withDaemon { daemon in
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=demo/pipe", headers: [("Authorization", "Bearer demo-token")])
            let client = try await ChildProcess.run(
                "/usr/bin/env", ["python3", TestEnvironment.client("pipeline_client.py"), "\(daemon.port)", "demo", "50"])
            #expect(client.status == 0, "\(client.stderr)")
            let result = try JSONSerialization.jsonObject(with: Data(client.stdout.utf8)) as! [String: Any]
            #expect(result["statuses"] as? [Int] == Array(repeating: 202, count: 50))
            let expectedBodies = (1...50).map { "{\"ids\":[\($0)],\"topics\":[\"demo/pipe\"]}\n" }
            #expect(result["bodies"] as? [String] == expectedBodies, "request i got id i + 1")
            let events = try await stream.collect { $0.count == 50 }
            #expect(events.map(\.data) == (0..<50).map { #"{"channel":"pipe","n":\#($0)}"# }, "subscribers see them in request order")
        }
    }

    /// 1,000 pipelined webhooks of 3 KiB in one write: far past the 64 answers owed at once, so reading pauses and
    /// resumes, with reads ending inside bodies. Every one is answered, in order (reading once stayed paused when
    /// the held-back requests ran out inside a body, and the connection hung).
    @Test func aLongPipelineWithBodiesIsAnsweredToTheEnd() async throws {
        try await withDaemon { daemon in
            let client = try await ChildProcess.run(
                "/usr/bin/env", ["python3", TestEnvironment.client("pipeline_client.py"), "\(daemon.port)", "demo", "1000", "3000"])
            #expect(client.status == 0, "\(client.stderr)")
            let result = try JSONSerialization.jsonObject(with: Data(client.stdout.utf8)) as! [String: Any]
            #expect(result["statuses"] as? [Int] == Array(repeating: 202, count: 1000))
            #expect((result["bodies"] as? [String])?.last == "{\"ids\":[1000],\"topics\":[\"demo/pipe\"]}\n")
        }
    }

    /// Bad input: a client that pipelines `GET /console` (7 KiB answers) through small socket buffers and reads none
    /// of the answers until the server stops taking its requests. Answers made at once leave nothing owed, so the
    /// server once read on and held every answer in memory (20,000 requests: 150 MB); now it reads no further while
    /// NIO holds more than the connection's high-water mark, and every answer comes once the client reads.
    @Test func aClientThatReadsNoAnswersIsNotReadFurther() async throws {
        try await withDaemon { daemon in
            let run = try await ChildProcess.run(
                "/usr/bin/env", ["python3", TestEnvironment.client("unread_answers_client.py"), "\(daemon.port)", "\(daemon.child.pid)", "20000"],
                timeout: .seconds(90))
            #expect(run.status == 0, "\(run.stderr)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Int], "\(run.stdout)")
            let sent = try #require(result["sent"])
            #expect(sent > HTTPStatusTests.answersInFlight && sent < 20_000, "the server stopped reading this connection: \(result)")
            #expect(result["answered"] == sent, "\(result)")
            #expect(try #require(result["rss_peak_kib"]) - (try #require(result["rss_before_kib"])) < 32 * 1024, "\(result)")
        }
    }

    /// As many answers as one connection may have owed before its reading pauses (`HTTPConnectionHandler.maximumInFlight`).
    static let answersInFlight = 64

    /// A client that ends its side of the connection once its requests are sent (`shutdown(SHUT_WR)`, as RFC 9112 9.6
    /// allows) gets every answer, then the connection closes. The connection once closed at the client's end, and
    /// webhooks already published went unanswered, for their sender to send again.
    @Test func aClientThatEndsItsSideAfterItsRequestsGetsEveryAnswer() async throws {
        try await withDaemon { daemon in
            var published = 0
            // 100: past the answers owed at once, so reading pauses before the end is seen; with 3 KiB bodies, parts of
            // bodies are among what is held back when it is.
            for (count, pad) in [(1, 0), (100, 0), (100, 3072)] {
                let run = try await ChildProcess.run(
                    "/usr/bin/env",
                    ["python3", TestEnvironment.client("pipeline_client.py"), "\(daemon.port)", "demo", "\(count)", "\(pad)", "--half-close"])
                #expect(run.status == 0, "\(count): \(run.stderr)")
                let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
                #expect(result["statuses"] as? [Int] == Array(repeating: 202, count: count), "\(count): \(run.stdout)")
                #expect((result["bodies"] as? [String])?.last == "{\"ids\":[\(published + count)],\"topics\":[\"demo/pipe\"]}\n", "\(count): \(run.stdout)")
                #expect(result["closed"] as? Bool == true, "the server closes once it has answered")
                published += count
            }
        }
    }

    /// A client that ends its side after 2,000 pipelined `GET /console` (7 KiB answers: more than the kernel's buffers
    /// hold) and reads slowly through a small buffer: the last answers go out as it takes them, and the connection
    /// closes right after the last one (it once stayed open until `idle_timeout`, a minute, when the last answers went
    /// out that way).
    @Test func aClientThatEndsItsSideAndReadsSlowlyGetsTheEndAfterTheLastAnswer() async throws {
        try await withDaemon { daemon in
            let run = try await ChildProcess.run(
                "/usr/bin/env", ["python3", TestEnvironment.client("unread_answers_client.py"), "\(daemon.port)", "\(daemon.child.pid)", "2000", "--half-close"],
                timeout: .seconds(60))
            #expect(run.status == 0, "\(run.stderr)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
            let sent = try #require(result["sent"] as? Int, "\(result)")
            #expect(sent > HTTPStatusTests.answersInFlight && result["answered"] as? Int == sent, "\(result)")
            #expect(result["closed"] as? Bool == true, "the server closed within 5 s of the last answer: \(result)")
        }
    }

    /// Bad input: 70 pipelined webhooks, then bytes that are no HTTP request, and 1 MiB more of them, in one write. The
    /// requests taken before the bad bytes are answered in order, the 400 comes last, then the connection closes; and no request went unanswered that was published (those held back behind the 64
    /// answers owed were once published behind the 400, and their answers dropped with the connection; and the bytes
    /// after, which NIO's decoder refuses once it has failed, once closed the connection before its answers).
    @Test func aMalformedRequestAfterAPipelineIsAnsweredLastAndWhatIsUnansweredIsNotPublished() async throws {
        try await withDaemon { daemon in
            let run = try await ChildProcess.run(
                "/usr/bin/env", ["python3", TestEnvironment.client("pipeline_client.py"), "\(daemon.port)", "demo", "70", "--then-garbage"])
            #expect(run.status == 0, "\(run.stderr)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
            let statuses = try #require(result["statuses"] as? [Int])
            let accepted = statuses.filter { $0 == 202 }.count
            #expect(accepted >= 1 && statuses == Array(repeating: 202, count: accepted) + [400], "\(statuses)")
            #expect(result["closed"] as? Bool == true)
            // The next event's id says how many were published: exactly those answered 202.
            let next = try await client.send(.POST, "\(daemon.baseURL)/hooks/demo", body: #"{"channel":"after"}"#, headers: [("Content-Type", "application/json")])
            #expect(next.body.hasPrefix("{\"ids\":[\(accepted + 1)]"), "\(accepted) answered 202: \(next.body)")
        }
    }

    /// Bad input: a 4 MiB webhook body against the 1 MiB limit, refused (413) by its `Content-Length` while the client
    /// is still uploading it. The server ends its side after the answer and drops what still comes until the client
    /// closes, so the client reads the whole 413 and its further writes succeed; the server once closed the socket
    /// with the upload unread, and the kernel answered the client's next bytes with a reset, which can take the
    /// answer away before the client reads it.
    @Test func aBodyRefusedWhileItIsUploadedLeavesTheClientTheAnswer() async throws {
        try await withDaemon { daemon in
            let script = #"""
                import json, socket, sys
                sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                sock.settimeout(10)
                chunk = b"1" * 65536
                sock.sendall(b"POST /hooks/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 4194304\r\n\r\n" + chunk)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += sock.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")))
                while len(body) < length:
                    body += sock.recv(65536)
                sent = 0
                try:
                    for _ in range(16):  # 1 MiB more of the upload, after the answer
                        sock.sendall(chunk)
                        sent += len(chunk)
                    error = None
                except OSError as e:
                    error = repr(e)
                eof = sock.recv(65536) == b""
                print(json.dumps({"status": int(head.split(b" ")[1]), "body": body.decode(), "sent_after": sent, "error": error, "eof": eof}))
                """#
            let run = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", script, String(daemon.port)])
            try Self.expectRefusedUploadAnswered(run)
        }
    }

    /// What a client that went on uploading a body refused with 413 printed (`{"status", "body", "sent_after", "error",
    /// "eof"}`): the whole answer, 1 MiB more written after it without a reset, then the server's end.
    static func expectRefusedUploadAnswered(_ run: (status: Int32, stdout: String, stderr: String)) throws {
        #expect(run.status == 0, "\(run.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        #expect(result["status"] as? Int == 413, "\(run.stdout)")
        #expect((result["body"] as? String)?.contains(#""error":"body_too_large""#) == true, "\(run.stdout)")
        #expect(result["error"] is NSNull, "the client's writes after the answer met no reset: \(run.stdout)")
        #expect(result["sent_after"] as? Int == 16 * 65536)
        #expect(result["eof"] as? Bool == true, "the server ended its side after the answer")
    }

    /// A stream request with a JWT (checked off the event loop) and a request pipelined behind it: while the token is
    /// checked the next request is held, not dropped. Bad input: a JWT whose signature does not verify, so the
    /// connection goes on after the 401 (the `/healthz` behind it was once lost, and the client waited for its answer
    /// until the idle timeout). And bad input behind it: bytes that are no HTTP request, which make NIO's decoder fail
    /// while the token is checked: the 401 comes first, then the 400, then the connection closes (it once closed at
    /// once, with no answer to either).
    @Test(arguments: ["healthz", "garbage"])
    func aRequestPipelinedBehindAStreamWhoseJWTIsRefusedIsAnswered(behind: String) async throws {
        let config = """
            store: { kind: memory }
            auth:
              jwt:
                keys: [{ alg: HS256, secret: { value: 0123456789abcdef0123456789abcdef } }]
                subscribe: ["users/{sub}/**"]
            sources: { app: {} }
            """
        try await withDaemon(config: config) { daemon in
            let script = #"""
                import socket, sys
                sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                sock.settimeout(10)
                token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                behind = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" if sys.argv[2] == "healthz" else "NOT HTTP AT ALL\r\n\r\n"
                sock.sendall(("GET /events?topic=users/1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token
                              + "\r\n\r\n" + behind).encode())
                data, statuses = b"", []
                while len(statuses) < 2:
                    while b"\r\n\r\n" not in data:
                        chunk = sock.recv(65536)
                        if not chunk:
                            sys.exit(f"closed after {statuses}")
                        data += chunk
                    head, _, rest = data.partition(b"\r\n\r\n")
                    lines = head.decode().split("\r\n")
                    length = int(next(l.split(":", 1)[1] for l in lines if l.lower().startswith("content-length:")))
                    while len(rest) < length:
                        rest += sock.recv(65536)
                    statuses.append(int(lines[0].split()[1]))
                    data = rest[length:]
                if sys.argv[2] == "healthz":
                    print(statuses)
                    sys.exit(0)
                sock.settimeout(5)
                try:
                    closed = data == b"" and sock.recv(1) == b""
                except socket.timeout:
                    closed = False
                print(statuses, "closed" if closed else "open")
                """#
            let run = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", script, String(daemon.port), behind])
            #expect(run.status == 0, "\(run.stderr)")
            let expected = behind == "healthz" ? "[401, 200]" : "[401, 400] closed"
            #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "\(run.stdout)")
        }
    }

    /// Bad input: a CONNECT, and a request for a protocol switch, each followed by 8 MiB of another protocol's bytes.
    /// NIO's decoder parses nothing after such a request, so the answer closes the connection, and the bytes do not
    /// pile up in memory (they did, without bound, behind a keep-alive answer).
    @Test func protocolSwitchesAreAnsweredAndTheConnectionClosed() async throws {
        try await withDaemon { daemon in
            for (mode, status) in [("connect", 404), ("upgrade", 200)] {
                let client = try await ChildProcess.run("/usr/bin/env", ["python3", TestEnvironment.client("upgrade_client.py"), "\(daemon.port)", mode])
                #expect(client.status == 0, "\(client.stderr)")
                let result = try JSONSerialization.jsonObject(with: Data(client.stdout.utf8)) as! [String: Any]
                #expect(result["status"] as? Int == status, "\(mode): \(client.stdout)")
                #expect(result["connection"] as? String == "close", "\(mode): \(client.stdout)")
                #expect(result["closed"] as? Bool == true, "\(mode): \(client.stdout)")
            }
            #expect(try await client.send(.GET, "\(daemon.baseURL)/healthz").status == 200, "the daemon serves on")
        }
    }

    /// Bad input: a `Host` with user info (`user:password@name`). Refused, and the password is not in the log line
    /// that says so.
    @Test func aHostWithUserInfoIsLoggedWithoutIt() async throws {
        try await withDaemon { daemon in
            let run = try await ChildProcess.run(
                "/usr/bin/env", ["curl", "-sS", "-w", "\n%{http_code}", "-H", "Host: admin:HOSTPASS@localhost", "\(daemon.baseURL)/healthz"])
            #expect(run.stdout.hasSuffix("\n400"), "\(run.stdout)")
            #expect(run.stdout.contains(#""error":"invalid_host""#), "\(run.stdout)")
            try await waitUntil("the refusal in the log") { daemon.log.contains("Requests refused for a Host against HTTP's rules") }
            #expect(daemon.log.contains("<userinfo>@localhost"), "\(daemon.log)")
            #expect(!daemon.log.contains("HOSTPASS"), "\(daemon.log)")
        }
    }

    /// RFC 9112 3.2, with curl: an HTTP/1.1 request without `Host` is a 400 (HTTP/1.0 had none), and a target in
    /// absolute form (what a proxy's client sends) is served, its host standing for the `Host` header, in the
    /// `server.hosts` check too. Bad input: no `Host`, and an absolute target that names a user.
    @Test func requestTargetsAndTheHostFollowRFC9112() async throws {
        try await withDaemon { daemon in
            func curl(_ arguments: [String]) async throws -> (status: String, body: String) {
                let run = try await ChildProcess.run("/usr/bin/env", ["curl", "-sS", "-w", "\n%{http_code}"] + arguments)
                let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let authority = "127.0.0.1:\(daemon.port)"
            let noHost = try await curl(["-H", "Host:", "\(daemon.baseURL)/healthz"])
            #expect(noHost.status == "400", "\(noHost)")
            #expect(noHost.body.contains(#""error":"missing_host""#), "\(noHost)")
            #expect(try await curl(["--http1.0", "-H", "Host:", "\(daemon.baseURL)/healthz"]).status == "200")
            // Bad input: Hosts that are not a host and a port.
            for bad in ["localhost:abc", "localhost:99999", "user@localhost", "localhost, rebind.test", String(repeating: "a", count: 300)] {
                let refused = try await curl(["-H", "Host: \(bad)", "\(daemon.baseURL)/healthz"])
                #expect(refused.status == "400" && refused.body.contains(#""error":"invalid_host""#), "\(bad): \(refused)")
            }
            #expect(try await curl(["-H", "Host: localhost:65535", "\(daemon.baseURL)/healthz"]).status == "200")

            let hook = try await curl([
                "--request-target", "HTTP://\(authority)/hooks/demo", "-H", "Content-Type: application/json", "-d", #"{"channel":"ops"}"#,
                daemon.baseURL,
            ])
            #expect(hook.status == "202", "\(hook)")
            #expect(hook.body == #"{"ids":[1],"topics":["demo/ops"]}"#, "\(hook)")
            let rebound = try await curl(["--request-target", "http://rebind.test:\(daemon.port)/metrics", daemon.baseURL])
            #expect(rebound.status == "403", "the target's host is checked, not the Host header's 127.0.0.1: \(rebound)")
            #expect(rebound.body.contains("add 'rebind.test' to server.hosts"), "\(rebound)")
            let local = try await curl(["--request-target", "http://localhost:\(daemon.port)?x=1", "-H", "Host: rebind.test", daemon.baseURL])
            #expect(local.status == "404" && local.body.contains("no route for GET /"), "served as GET /?x=1, under localhost: \(local)")
            #expect(try await curl(["--request-target", "http://localhost:\(daemon.port)/healthz", "-H", "Host: rebind.test", daemon.baseURL]).status == "200")

            let user = try await curl(["--request-target", "http://user@\(authority)/healthz", daemon.baseURL])
            #expect(user.status == "400" && user.body.contains(#""error":"invalid_target""#), "\(user)")
            #expect(try await curl(["--request-target", "http:///healthz", daemon.baseURL]).status == "400", "an absolute target without a host")
            #expect(try await curl(["--request-target", "http://:\(daemon.port)/healthz", daemon.baseURL]).status == "400", "a port, no host")
            // The header's name in any case is the Host; two of them, however spelt, are refused. Bad input: a second
            // Host in other letters, and names that only look like Host.
            let script = """
                import json, socket, sys
                out = []
                for fields in sys.argv[2:]:
                    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
                    s.sendall(("GET /healthz HTTP/1.1\\r\\n" + fields.replace("|", "\\r\\n") + "\\r\\nConnection: close\\r\\n\\r\\n").encode())
                    answer = b""
                    while chunk := s.recv(65536): answer += chunk
                    s.close()
                    head, _, body = answer.decode().partition("\\r\\n\\r\\n")
                    out.append({"status": int(head.split(" ")[1]), "body": body})
                print(json.dumps(out))
                """
            let fields = [
                "hOsT: rebind.test", "HOST: localhost", "Host: localhost|HOST: rebind.test", "host: localhost|hosT: localhost",
                "Hosts: localhost", "Hos: localhost",
            ]
            let raw = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", script, String(daemon.port)] + fields)
            #expect(raw.status == 0, "\(raw.stderr)")
            let answers = try #require(try JSONSerialization.jsonObject(with: Data(raw.stdout.utf8)) as? [[String: Any]], "\(raw.stdout)")
            #expect(answers.map { $0["status"] as? Int } == [403, 200, 400, 400, 400, 400], "\(answers)")
            #expect((answers[0]["body"] as? String)?.contains("add 'rebind.test' to server.hosts") == true, "\(answers)")
            #expect(answers[2...3].allSatisfy { ($0["body"] as? String)?.contains(#""error":"duplicate_host""#) == true }, "\(answers)")
            #expect(answers[4...5].allSatisfy { ($0["body"] as? String)?.contains(#""error":"missing_host""#) == true }, "\(answers)")
            try await waitUntil("the refusals in the log") {
                daemon.log.contains("Requests refused for a Host against HTTP's rules: none on an HTTP/1.1 request")
                    && daemon.log.contains("Requests refused for their Host: not localhost")
            }
            // Each kind is logged at once the first time: the first malformed one was the request without a Host.
            #expect(daemon.log.split(separator: "\n").contains { $0.contains("against HTTP's rules") && $0.contains(#"host="""#) }, "\(daemon.log)")
            #expect(try await client.send(.GET, "\(daemon.baseURL)/healthz").status == 200, "the daemon serves on")
        }
    }

    @Test func noRuleMatchedAnswersEmptyIds() async throws {
        let config = """
            sources: { quiet: {} }
            rules:
              - name: only-pushes
                source: quiet
                when: { header.x-event: push }
                publish: { topic: "q/{{ body.x }}" }
            """
        try await withDaemon(config: config) { daemon in
            let response = try await client.send(.POST, "\(daemon.baseURL)/hooks/quiet", body: #"{"x":"y"}"#, headers: [("Content-Type", "application/json")])
            #expect(response.status == 202)
            #expect(response.body == "{\"ids\":[],\"topics\":[]}\n")
            let matched = try await client.send(
                .POST, "\(daemon.baseURL)/hooks/quiet", body: #"{"x":"y"}"#, headers: [("Content-Type", "application/json"), ("X-Event", "push")])
            #expect(matched.body == "{\"ids\":[1],\"topics\":[\"q/y\"]}\n")
        }
    }

    @Test func badWebhooksGetClearJSONErrors() async throws {
        try await withDaemon { daemon in
            let url = "\(daemon.baseURL)/hooks/demo"
            let json = [("Content-Type", "application/json")]
            // Malformed JSON body.
            let malformed = try await client.send(.POST, url, body: #"{"channel": "#, headers: json)
            #expect(malformed.status == 400)
            #expect(malformed.body.contains(#""error":"malformed_body""#))
            // Empty body.
            let empty = try await client.send(.POST, url, body: "", headers: json)
            #expect(empty.status == 400)
            // Unknown source.
            let unknown = try await client.send(.POST, "\(daemon.baseURL)/hooks/nope", body: "{}", headers: json)
            #expect(unknown.status == 404)
            #expect(unknown.body.contains(#""error":"unknown_source""#))
            // The Unix-socket source is not a webhook.
            let socketSource = try await client.send(.POST, "\(daemon.baseURL)/hooks/local", body: "{}", headers: json)
            #expect(socketSource.status == 404)
            // Over server.limits.body_bytes (1 MiB by default).
            let large = try await client.send(.POST, url, body: "[" + String(repeating: "1,", count: 600_000) + "1]", headers: json)
            #expect(large.status == 413)
            #expect(large.body.contains(#""error":"body_too_large""#))
            // Unsupported content type (text, forms and JSON are accepted).
            let binary = try await client.send(.POST, url, body: "hello", headers: [("Content-Type", "application/octet-stream")])
            #expect(binary.status == 415)
            #expect(binary.body.contains(#""error":"unsupported_media_type""#))
            // A compressed body (Content-Encoding: gzip): refused by name, not read as malformed JSON nor as a bad signature.
            let gzipped = try await client.send(.POST, url, body: "{}", headers: json + [("Content-Encoding", "gzip")])
            #expect(gzipped.status == 415)
            #expect(gzipped.body.contains(#""error":"unsupported_content_encoding""#) && gzipped.body.contains("send the body uncompressed"), "\(gzipped.body)")
            // A key twice in one object: rules would read the first, a browser the last.
            let twice = try await client.send(.POST, url, body: #"{"channel":"x","channel":"y"}"#, headers: json)
            #expect(twice.status == 400)
            #expect(twice.body.contains("appears twice"), "\(twice.body)")
            // A payload naming one of the server's own event types, which pages answer by closing or reloading.
            let reserved = try await client.send(.POST, url, body: #"{"type":"hookstream.expired"}"#, headers: json)
            #expect(reserved.status == 422)
            #expect(reserved.body.contains(#""error":"routing_failed""#) && reserved.body.contains("kept for the server's own events"), "\(reserved.body)")
            // A form whose payload is not UTF-8 once percent-decoded.
            let form = try await client.send(
                .POST, url, body: "payload=%7B%22channel%22%3A%22%FF%22%7D", headers: [("Content-Type", "application/x-www-form-urlencoded")])
            #expect(form.status == 400)
            #expect(form.body.contains(#""error":"malformed_body""#), "\(form.body)")
            // The same bytes in a form that says it is Windows-1252 (as older senders post) are its text.
            let legacy = try await client.send(
                .POST, url, body: "payload=%7B%22channel%22%3A%22caf%E9%22%7D",
                headers: [("Content-Type", "application/x-www-form-urlencoded; charset=windows-1252")])
            #expect(legacy.status == 202, "\(legacy.body)")
            #expect(legacy.body.contains(#""topics":["demo/café"]"#), "\(legacy.body)")
            // Wrong method, unknown path.
            #expect(try await client.send(.GET, url).status == 405)
            #expect(try await client.send(.GET, "\(daemon.baseURL)/nothing-here").status == 404)
            // Nothing above was published but the Windows-1252 form: the next event is id 2.
            #expect(try await client.postWebhook(daemon, json: "{}") == [2])
            try await waitUntil("the rejections in the log") { daemon.log.contains("Webhook rejected") }
            // Bad input: what a browser sends for a page of another site. Refused; this server's own origin, and a
            // request with no browser headers at all (a webhook sender), are taken.
            for headers in [[("Origin", "http://evil.example")], [("Origin", "null")], [("Sec-Fetch-Site", "cross-site")], [("Sec-Fetch-Site", "same-site")]] {
                let foreign = try await client.send(.POST, url, body: "{}", headers: json + headers)
                #expect(foreign.status == 403 && foreign.body.contains(#""error":"origin_not_allowed""#), "\(headers): \(foreign)")
            }
            let own = try await client.send(.POST, url, body: "{}", headers: json + [("Origin", daemon.baseURL), ("Sec-Fetch-Site", "same-origin")])
            #expect(own.status == 202, "\(own)")
            // Every answer a webhook got counts under its source, the 413 given before it was routed too.
            let metrics = try await client.send(.GET, "\(daemon.baseURL)/metrics").body
            for (status, count) in [(202, 3), (400, 4), (403, 4), (413, 1), (415, 2), (422, 1)] {
                #expect(metrics.contains(#"hookstream_webhooks_total{source="demo",status="\#(status)"} \#(count)"#), "\(status): \(metrics)")
            }
            // And each of the three published by the one rule, counted between the refusals.
            #expect(metrics.contains(#"hookstream_rule_matches_total{source="demo",rule="demo-webhook"} 3"#), "\(metrics)")
            #expect(daemon.log.split(separator: "\n").contains { $0.contains("Request refused: body too large") && $0.contains("hookstream.source=demo") })
        }
    }

    /// A sender that asks before it sends its body (`Expect: 100-continue`, as curl, .NET and PHP's libcurl do) is told
    /// to go on, and its webhook is published; curl is given ten seconds to wait for it, and it did not wait them out
    /// (its own log says it got the `100`). Bad input: a body past `server.limits.body_bytes` that asks first gets
    /// its `413` at once, and no `100`.
    @Test func aSenderThatAsksBeforeItsBodyIsToldToGoOn() async throws {
        try await withDaemon { daemon in
            let body = #"{"channel":"expect","pad":""# + String(repeating: "x", count: 4_000) + #""}"#
            func post(_ body: String) async throws -> (status: Int32, stdout: String, stderr: String) {
                let file = daemon.directory.appendingPathComponent("body.json")
                try Data(body.utf8).write(to: file)
                return try await ChildProcess.run("/usr/bin/curl", [
                    "-sS", "-v", "--http1.1", "--expect100-timeout", "10", "-H", "Expect: 100-continue", "-H", "Content-Type: application/json",
                    "--data-binary", "@\(file.path)", "-w", "\n%{http_code}", "\(daemon.baseURL)/hooks/demo",
                ])
            }
            let asked = try await post(body)
            #expect(asked.stderr.contains("< HTTP/1.1 100 Continue"), "\(asked.stderr)")
            #expect(asked.stdout.hasSuffix("\n202") && asked.stdout.contains(#""topics":["demo/expect"]"#), "\(asked.stdout)")
            let tooLarge = try await post(#"{"pad":""# + String(repeating: "x", count: 1_100_000) + #""}"#)
            #expect(!tooLarge.stderr.contains("100 Continue") && tooLarge.stdout.hasSuffix("\n413"), "\(tooLarge.stdout.suffix(200))")
        }
    }

    /// Bad input: a payload whose topic, rendered by the default rule, holds a newline and then what looks like a line
    /// of the daemon's own log. The webhook gets its 422 and the text log quotes the topic on the rejection's line,
    /// the newline escaped: no line of the sender's making.
    @Test func aTopicWithANewlineCannotForgeALogLine() async throws {
        try await withDaemon { daemon in
            let forged = #"{"channel":"x\n2001-01-01T00:00:00+0000 info hookstream : [HookstreamServer] Webhook accepted"}"#
            let answer = try await client.send(.POST, "\(daemon.baseURL)/hooks/demo", body: forged, headers: [("Content-Type", "application/json")])
            #expect(answer.status == 422, "\(answer)")
            try await waitUntil("the rejection in the log") { daemon.log.contains("Webhook rejected") }
            let lines = daemon.log.split(separator: "\n")
            #expect(!lines.contains { $0.hasPrefix("2001-01-01") }, "a forged line: \(daemon.log)")
            #expect(lines.contains { $0.contains("Webhook rejected") && $0.contains(#"x\n2001-01-01T00:00:00+0000 info"#) }, "\(daemon.log)")
        }
    }

    @Test func streamAuthStatuses() async throws {
        try await withDaemon { daemon in
            let events = "\(daemon.baseURL)/events"
            let none = try await client.send(.GET, "\(events)?topic=demo/x")
            #expect(none.status == 401)
            #expect(none.headers.first(name: "www-authenticate")?.hasPrefix("Bearer") == true)
            #expect(none.body.contains(#""error":"unauthorized""#))
            let wrong = try await client.send(.GET, "\(events)?topic=demo/x", headers: [("Authorization", "Bearer not-the-token")])
            #expect(wrong.status == 401)
            #expect(!wrong.body.contains("not-the-token"), "a presented secret is never echoed")
            let forbidden = try await client.send(.GET, "\(events)?topic=secret/x", headers: [("Authorization", "Bearer demo-token")])
            #expect(forbidden.status == 403)
            #expect(forbidden.body.contains(#""error":"forbidden""#))
            let tooWide = try await client.send(.GET, "\(events)?topic=demo/x&topic=**", headers: [("Authorization", "Bearer demo-token")])
            #expect(tooWide.status == 403)
            let noTopic = try await client.send(.GET, events, headers: [("Authorization", "Bearer demo-token")])
            #expect(noTopic.status == 400)
            // The log arrives through a pipe: wait until it has the last refusal, then look for the secrets.
            try await waitUntil("the last refusal in the log") { daemon.log.contains("name at least one topic") }
            #expect(!daemon.log.contains("demo-token"), "secrets never reach the log")
            #expect(!daemon.log.contains("not-the-token"), "nor do presented ones")
        }
    }
    /// Bad input: a token that asks for tickets without using them. It may hold 100 unused ones; the 101st request
    /// gets `429 too_many_tickets`. Using one makes room for one more, and another token is not affected. (Before,
    /// tickets were unbounded, and each issue walked all of them.)
    @Test func aTokenHoldsAtMost100UnusedTickets() async throws {
        let config = """
            auth:
              tokens:
                - { name: one, secret: { value: token-one }, subscribe: ["demo/**"] }
                - { name: two, secret: { value: token-two }, subscribe: ["demo/**"] }
            store: { kind: memory }
            sources: { demo: {} }
            rules: [{ name: demo, source: demo, publish: { topic: "demo/x", data: "{{ body }}" } }]
            """
        try await withDaemon(config: config) { daemon in
            func ticket(_ token: String) async throws -> (status: UInt, body: String) {
                let answer = try await client.send(
                    .POST, "\(daemon.baseURL)/tickets", body: #"{"topics":["demo/x"]}"#,
                    headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")])
                return (answer.status, answer.body)
            }
            var issued: [String] = []
            for _ in 1...100 {
                let answer = try await ticket("token-one")
                #expect(answer.status == 200, "\(answer.body)")
                let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
                issued.append(try #require(object?["ticket"] as? String))
            }
            let refused = try await ticket("token-one")
            #expect(refused.status == 429)
            #expect(refused.body.contains(#""error":"too_many_tickets""#), "\(refused.body)")
            #expect(refused.body.contains("holds 100 unused tickets"), "\(refused.body)")
            #expect(try await ticket("token-two").status == 200, "another token is not affected")

            // Using one makes room for one more.
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=demo/x&ticket=\(issued[0])")
            #expect(try await client.postWebhook(daemon, json: #"{"n":1}"#) == [1])
            #expect(try await stream.collect { $0.count == 1 }.map(\.data) == [#"{"n":1}"#])
            #expect(try await ticket("token-one").status == 200)
            #expect(try await ticket("token-one").status == 429)
        }
    }
    /// Bad input: webhooks past their source's `rate_limit` (1/m, 3 at once: nothing refills during the test, so
    /// a slow machine cannot make it pass or fail). The fourth in a row, and a flood after it, get `429 rate_limited`
    /// with `Retry-After` and publish nothing; the flood is logged once, not once per webhook. A reload with another
    /// limit starts the source with a full bucket, and the next webhook is numbered right after the accepted ones:
    /// the refused took no id. (How the bucket refills is WebhookRateLimiterTests', with the clock given.)
    @Test func webhooksPastTheSourcesRateLimitGet429() async throws {
        func config(_ rate: String) -> String {
            """
            store: { kind: memory }
            sources: { demo: { rate_limit: { rate: \(rate), burst: 3 } } }
            rules: [{ name: demo, source: demo, publish: { topic: "demo/x", data: "{{ body }}" } }]
            """
        }
        try await withDaemon(config: config("1/m")) { daemon in
            func post(_ n: Int) async throws -> (status: UInt, headers: HTTPHeaders, body: String) {
                try await client.send(.POST, "\(daemon.baseURL)/hooks/demo", body: #"{"n":\#(n)}"#, headers: [("Content-Type", "application/json")])
            }
            for n in 1...3 {
                let accepted = try await post(n)
                #expect(accepted.status == 202 && accepted.body.contains(#""ids":[\#(n)]"#), "\(accepted.body)")
            }
            let refused = try await post(4)
            #expect(refused.status == 429)
            #expect(refused.headers.first(name: "retry-after").flatMap(Int.init).map { $0 > 50 && $0 <= 60 } == true, "\(refused.headers)")
            #expect(refused.body.contains(#""error":"rate_limited""#), "\(refused.body)")
            #expect(refused.body.contains("source 'demo' takes at most 1/m, 3 at once (sources.demo.rate_limit); retry after"), "\(refused.body)")
            for n in 5...20 { #expect(try await post(n).status == 429) }
            try await waitUntil("the refusals in the log") { daemon.log.contains("Webhooks refused: the source's rate limit is reached") }
            #expect(daemon.log.components(separatedBy: "Webhooks refused").count - 1 == 1, "a flood is logged once")

            try config("2/m").write(to: daemon.directory.appendingPathComponent("hookstream.yaml"), atomically: true, encoding: .utf8)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the reload") { daemon.log.contains("config reloaded") }
            let taken = try await post(21)
            #expect(taken.status == 202 && taken.body.contains(#""ids":[4]"#), "\(taken.body)")
        }
    }

    /// Bad input: request bodies sent part way on several connections at once, more than
    /// `server.limits.buffered_bodies` holds. (Before, only `body_bytes` bounded a body, so 1,000 HTTP/2 streams or
    /// thousands of connections could each hold that much.) The request that does not fit gets `503 server_busy`
    /// with `Retry-After`; the one that fits goes on; the refused one, sent again, is taken; and the bytes of a body
    /// whose client goes away come back to the budget (a leak would refuse every later request).
    @Test func requestBodiesPastTheBufferedBudgetGet503AndTheBudgetComesBack() async throws {
        let config = """
            server: { event_loop_threads: 1, limits: { body_bytes: 32KiB, buffered_bodies: 48KiB } }
            store: { kind: memory }
            sources: { demo: {} }
            rules: [{ name: demo, source: demo, publish: { topic: "demo/x", data: "{{ body }}" } }]
            """
        struct Outcome: Decodable {
            struct Answer: Decodable {
                var status: Int
                var head: [String]
                var body: String
            }
            var first: [Int?]
            var refusal: Answer?
            var completed: Int?
            var retried: Int?
            var heldByPartial: Int?
            var afterClose: Int?
            var afterCloseTries: Int
        }
        try await withDaemon(config: config) { daemon in
            let client = try ChildProcess(TestEnvironment.python, [TestEnvironment.client("body_budget_client.py"), String(daemon.port), "32768", "30000"])
            #expect(try await client.waitForExit(timeout: .seconds(60)) == 0, "\(client.stderr)")
            let line = try #require(client.stdoutLines.last, "no result: \(client.stderr)")
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let outcome = try decoder.decode(Outcome.self, from: Data(line.utf8))
            #expect(outcome.first.compactMap { $0 } == [503], "one of two partial bodies refused, the other waiting: \(outcome.first)")
            let refusal = try #require(outcome.refusal)
            #expect(refusal.head.contains { $0.lowercased() == "retry-after: 1" }, "\(refusal.head)")
            #expect(refusal.body.contains(#""error":"server_busy""#), "\(refusal.body)")
            #expect(refusal.body.contains("server.limits.buffered_bodies, 49152 bytes"), "\(refusal.body)")
            #expect(outcome.completed == 202, "the body that fit was taken")
            #expect(outcome.retried == 202, "the refused request, sent again, was taken")
            #expect(outcome.heldByPartial == 503, "a partial body held the budget")
            #expect(outcome.afterClose == 202, "its bytes came back once its client went (\(outcome.afterCloseTries) tries)")
            try await waitUntil("the refusal in the log") { daemon.log.contains("the request bodies held at once reached server.limits.buffered_bodies") }
        }
    }
}
