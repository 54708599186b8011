import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Rules matching on every part of a real request, and the Unix socket's peer checks, against the real daemon.
@Suite(.timeLimit(.minutes(2))) struct RoutingTests {
    let client = HTTPClient.shared

    static let config = """
        store: { kind: memory }
        server:
          unix_socket: { path: ./run/hookstream.sock, mode: "0600", group: nogroup }
        auth:
          tokens: [{ name: t, secret: { value: reader-token }, subscribe: ["**"] }]
        sources:
          app: {}
          local: { unix_socket: true, allow_uids: [0, 424242] }
        rules:
          - name: audit
            source: app
            continue: true
            when: { method: PUT }
            publish: { topic: audit/app, event: put, data: { path: "{{ path }}" } }
          - name: deploys
            source: app
            when:
              path: { prefix: "deploys/" }
              header.X-Env: { in: [prod, staging] }
              query.dry: { exists: false }
            publish:
              - { topic: "deploys/{{ header.x-env }}", event: "{{ body.status | upper }}", data: "{{ body }}" }
              - { topic: "services/{{ body.service | slug }}", event: deploy, data: { n: "{{ body.commits[0].n }}" } }
          - name: forms
            source: app
            when: { form.team: { regex: "^ops|sre$" } }
            publish: { topic: "forms/{{ form.team }}", data: "{{ form.text | truncate: 5 }}" }
          - name: text
            source: app
            when: { text: { contains: ALERT } }
            publish: { topic: alerts/text, data: "{{ text }}" }
          - name: by-peer
            source: local
            when: { peer.uid: { gte: 0 } }
            publish: { topic: "peers/{{ peer.uid }}", event: "{{ event | default: 'message' }}", data: "{{ data }}" }
        """

    private func post(_ daemon: Daemon, _ path: String, method: HTTPMethod = .POST, body: String, headers: [(String, String)]) async throws -> (status: UInt, body: String) {
        let response = try await client.send(method, "\(daemon.baseURL)/hooks/\(path)", body: body, headers: headers)
        return (response.status, response.body)
    }

    @Test func rulesMatchOnEveryPartOfARequest() async throws {
        try await withDaemon(config: Self.config) { daemon in
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=**", headers: [("Authorization", "Bearer reader-token")])
            let json = [("Content-Type", "application/json")]
            // Sub-path, header (any case), query and a JSON array index; two events from one rule.
            let deploy = try await post(
                daemon, "app/deploys/api?x=1", body: #"{"status":"ok","service":"API Gateway","commits":[{"n":7}]}"#, headers: json + [("x-ENV", "prod")])
            #expect(deploy.status == 202)
            #expect(deploy.body == #"{"ids":[1,2],"topics":["deploys/prod","services/api-gateway"]}"# + "\n")
            // The same request with ?dry= or another environment matches nothing: 202 with no ids.
            #expect(try await post(daemon, "app/deploys/api?dry=1", body: "{}", headers: json + [("X-Env", "prod")]).body == #"{"ids":[],"topics":[]}"# + "\n")
            #expect(try await post(daemon, "app/deploys/api", body: "{}", headers: json + [("X-Env", "dev")]).body == #"{"ids":[],"topics":[]}"# + "\n")
            // PUT: the audit rule continues, so the deploy rule publishes too.
            let put = try await post(daemon, "app/deploys/web", method: .PUT, body: #"{"status":"failed","service":"web","commits":[{"n":1}]}"#, headers: json + [("X-Env", "staging")])
            #expect(put.body == #"{"ids":[3,4,5],"topics":["audit/app","deploys/staging","services/web"]}"# + "\n")
            // A form (Slack-style) and plain text.
            let form = try await post(daemon, "app", body: "team=ops&text=hello+world", headers: [("Content-Type", "application/x-www-form-urlencoded")])
            #expect(form.body == #"{"ids":[6],"topics":["forms/ops"]}"# + "\n")
            let text = try await post(daemon, "app", body: "disk ALERT on db1", headers: [("Content-Type", "text/plain; charset=utf-8")])
            #expect(text.body == #"{"ids":[7],"topics":["alerts/text"]}"# + "\n")
            // Bad input: a payload value that would add topic segments (`ops/../admin`) is refused; nothing is published.
            let escape = try await post(daemon, "app", body: "team=ops%2F..%2Fadmin&text=x", headers: [("Content-Type", "application/x-www-form-urlencoded")])
            #expect(escape.status == 422)
            #expect(escape.body.contains("a value inserted into a topic must be one segment"), "\(escape.body)")
            let bad = try await post(daemon, "app/deploys/x", body: #"{"service":"a","commits":[]}"#, headers: json + [("X-Env", "prod")])
            #expect(bad.status == 422, "a placeholder with no value fails the whole message")
            #expect(bad.body.contains("'body.status | upper' has no value"), "\(bad.body)")
            #expect(try await post(daemon, "app", body: "ALERT again", headers: [("Content-Type", "text/plain")]).body == #"{"ids":[8],"topics":["alerts/text"]}"# + "\n")
            let events = try await stream.collect { $0.count == 8 }
            #expect(events.map(\.id) == (1...8).map(String.init))
            #expect(events[0].event == "OK")
            #expect(events[1].data == #"{"n":7}"#)
            #expect(events[2].data == #"{"path":"deploys/web"}"#)
            #expect(events[5].data == "hello")
            #expect(events[6].data == "disk ALERT on db1")
        }
    }

    /// `allow_gids` takes a sender's supplementary groups too (`SO_PEERGROUPS`), as a user who was added to a group
    /// is usually a member: a process of uid 65534 whose primary group is 65534 and whose supplementary groups are
    /// 4242 and 4243 may send to a source that allows gid 4243. Bad input: the same process without 4243 among them.
    @Test func aSupplementaryGroupOfTheSenderIsAllowed() async throws {
        let isRoot = getuid() == 0
        try #require(isRoot, "the sender drops from root to uid 65534 with chosen groups")
        let config = """
            store: { kind: memory }
            server:
              unix_socket: { path: ./run/hookstream.sock, mode: "0666" }
            sources:
              local: { unix_socket: true, allow_gids: [4243] }
            rules:
              - { name: all, source: local, publish: { topic: "peers/{{ peer.gid }}", data: "{{ data }}" } }
            """
        try await withDaemon(config: config) { daemon in
            let script = #"""
                import json, os, socket, sys
                path, groups = sys.argv[1], [int(g) for g in sys.argv[2].split(",") if g]
                os.setgroups(groups)
                os.setgid(65534)
                os.setuid(65534)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                s.sendall(b'{"data":"hi"}\n')
                print(s.makefile().readline().strip())
                """#
            let member = try await ChildProcess.run("/usr/bin/python3", ["-c", script, daemon.socketPath, "4242,4243"])
            #expect(member.status == 0, "\(member.stderr)")
            #expect(member.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"ok":true,"ids":[1]}"#, "\(member)")
            let stranger = try await ChildProcess.run("/usr/bin/python3", ["-c", script, daemon.socketPath, "4242"])
            #expect(stranger.stdout.contains(#""ok":false"#) && stranger.stdout.contains("forbidden: uid 65534 and gid 65534"), "\(stranger)")
        }
    }

    @Test func theSocketKnowsItsPeerAndRefusesStrangers() async throws {
        let uid = getuid()
        let allowingUs = Self.config.replacingOccurrences(of: "allow_uids: [0, 424242]", with: "allow_uids: [\(uid)]")
        try await withDaemon(config: allowingUs) { daemon in
            var info = stat()
            #expect(stat(daemon.socketPath, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600, "the configured mode")
            if getuid() == 0 { #expect(info.st_gid == getgrnam("nogroup").pointee.gr_gid, "the configured group") }
            let socket = try UnixSocketClient(path: daemon.socketPath)
            #expect(try socket.request(#"{"event":"ping","data":"hi"}"#) == #"{"ok":true,"ids":[1]}"#)
            // The rule put the sender's uid in the topic: hookstream read it from the kernel, not from the line.
            let stream = try await SSEStream.open(
                "\(daemon.baseURL)/events?topic=peers/\(uid)&lastEventId=0", headers: [("Authorization", "Bearer reader-token")])
            let events = try await stream.collect { $0.count == 1 }
            #expect(events.first?.event == "ping")
            #expect(events.first?.data == "hi")
            // Bad input, after a reload: a sender whose uid and gid the source no longer allows (another uid and gid).
            let yaml = Self.config.replacingOccurrences(
                of: "allow_uids: [0, 424242]", with: "allow_uids: [\(uid + 1)], allow_gids: [\(getgid() + 1)]")
            try yaml.write(to: daemon.directory.appendingPathComponent("hookstream.yaml"), atomically: true, encoding: .utf8)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the reload") { daemon.log.contains("config reloaded") }
            let refusal = #"{"ok":false,"error":"forbidden: uid \#(uid) and gid \#(getgid()) are in neither allow_uids nor allow_gids of source 'local'"}"#
            // Refused, then the connection closes: a sender the source does not allow has no use for it.
            #expect(try socket.request(#"{"data":"x"}"#) == refusal)
            #expect(try socket.readLine() == nil)
            // A new connection is refused as it connects (before it sends anything), then closed.
            let another = try UnixSocketClient(path: daemon.socketPath)
            #expect(try another.readLine() == refusal)
            #expect(try another.readLine() == nil)
            try await waitUntil("the refusal in the log") { daemon.log.contains("Unix socket sender refused") }
            #expect(daemon.log.components(separatedBy: "Unix socket sender refused").count == 2, "logged once within 10 s, with a count")
        }
    }

    /// A webhook whose regex tests need more steps than the event loop gives them (a million; here about 24 million,
    /// `[a-z]{1,100}x` on 60,000 characters, within a `regex_steps` of a billion) is routed on the routing thread: a
    /// light webhook sent while it is routed is read, routed and answered meanwhile, so it gets id 1 and the costly
    /// one id 2, and a stream gets both in id order. (On the loop, the light one waited behind the costly one's
    /// search, and came second.)
    @Test func aCostlyMessageIsRoutedOffTheEventLoop() async throws {
        let config = """
            store: { kind: memory }
            server: { limits: { regex_steps: 1000000000 } }
            auth:
              tokens: [{ name: t, secret: { value: reader-token }, subscribe: ["**"] }]
            sources: { app: {} }
            rules:
              - { name: costly, source: app, when: { body.text: { regex: "[a-z]{1,100}x" } }, publish: { topic: matched/app } }
              - { name: rest, source: app, publish: { topic: other/app } }
            """
        try await withDaemon(config: config) { daemon in
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=**", headers: [("Authorization", "Bearer reader-token")])
            let json = [("Content-Type", "application/json")]
            let costly = Task { try await post(daemon, "app", body: #"{"text":"\#(String(repeating: "a", count: 60_000))x"}"#, headers: json) }
            try await waitUntil("the costly message to go to the routing thread") { daemon.log.contains("Routing on the routing thread") }
            let light = try await post(daemon, "app", body: #"{"text":"abc"}"#, headers: json)
            #expect(light.body == "{\"ids\":[1],\"topics\":[\"other/app\"]}\n", "the light webhook was answered while the costly one was routed")
            #expect(try await costly.value.body == "{\"ids\":[2],\"topics\":[\"matched/app\"]}\n")
            let events = try await stream.collect { $0.count == 2 }
            #expect(events.map(\.id) == ["1", "2"])
        }
    }

    /// Bad input: 17 costly webhooks at once (each about 100 million regex steps: seconds even in a release build),
    /// as anyone may send to a source without `verify:`, and a costly Unix socket line. The routing thread takes 16
    /// of these 18 messages; the other two are refused at once (`503 routing_busy`, with `Retry-After`). Meanwhile the event loop and
    /// Swift's task pool stay free: a reload is applied and a light webhook answered while they are routed. SIGTERM
    /// then stops the daemon within the shutdown's grace period, exit 0: the searches under way are abandoned, not
    /// waited for, and the line and the webhooks still connected are answered that the server is shutting down.
    /// (On Swift's task pool, the searches held up reloads, resumes and the watchdog, and a stop past the shutdown
    /// deadline crashed the daemon.)
    @Test func costlyMessagesNeitherHoldReloadsNorAStopAndTheirQueueIsBounded() async throws {
        let config = """
            store: { kind: sqlite, path: ./var/hookstream.db }
            server: { unix_socket: { path: ./run/hookstream.sock }, limits: { regex_steps: 100000000000 } }
            sources: { app: {}, local: { unix_socket: true } }
            rules:
              - { name: costly, source: app, when: { body.text: { regex: "[a-z]{1,100}x" } }, publish: { topic: matched/app } }
              - { name: rest, source: app, publish: { topic: other/app } }
              - { name: costly-line, source: local, when: { text: { regex: "[a-z]{1,100}x" } }, publish: { topic: matched/local } }
            """
        let directory = try TestEnvironment.makeTemporaryDirectory()
        // One message, a webhook's body and a socket line alike.
        let body = directory.appendingPathComponent("costly.json")
        try #"{"text":"\#(String(repeating: "a", count: 250_000))x"}"#.write(to: body, atomically: true, encoding: .utf8)
        let daemon = try await Daemon.start(config: config, directory: directory)
        var senders: [ChildProcess] = []
        defer { for sender in senders { sender.signal(SIGKILL) } }
        do {
            let line = try ChildProcess("/usr/bin/env", [
                "python3", "-c",
                "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(open(sys.argv[2], 'rb').read() + b'\\n'); "
                    + "print(s.makefile().readline().strip() or '(closed)')",
                daemon.socketPath, body.path,
            ])
            senders.append(line)
            let webhooks = try (0..<17).map { _ in
                try ChildProcess("/usr/bin/env", [
                    "curl", "-sS", "--max-time", "60", "-H", "Content-Type: application/json", "--data-binary", "@\(body.path)",
                    "-w", "\n%{http_code}", "\(daemon.baseURL)/hooks/app",
                ])
            }
            senders += webhooks
            try await waitUntil("a refusal for want of room") {
                webhooks.contains { !$0.isRunning && $0.stdout.contains(#""error":"routing_busy""#) }
            }
            let busy = try #require(webhooks.first { $0.stdout.contains(#""error":"routing_busy""#) })
            #expect(busy.stdout.hasSuffix("\n503"), "\(busy.stdout)")
            #expect(busy.stdout.contains("16 messages whose regex tests need more than 1000000 steps are being routed already; retry in a moment"))
            try await waitUntil("the refusals' log line") { daemon.log.contains("Messages refused: the routing thread has as many messages as it may hold") }
            // The loop and the task pool are free: a reload is applied, and a light webhook answered.
            daemon.child.signal(SIGHUP)
            try await waitUntil(timeout: .seconds(10), "the reload") { daemon.log.contains("config reloaded") }
            let light = try await post(daemon, "app", body: #"{"text":"abc"}"#, headers: [("Content-Type", "application/json")])
            #expect(light.status == 202 && light.body.contains(#""topics":["other/app"]"#), "\(light.body)")
            // On a busy machine a sender may start late: every message has reached the daemon once each is either
            // taken by the routing thread (its debug line) or refused (its sender done).
            try await waitUntil(timeout: .seconds(20), "all 18 costly messages taken or refused") {
                daemon.log.components(separatedBy: "Routing on the routing thread").count - 1 + senders.filter { !$0.isRunning }.count >= 18
            }
            // 18 costly messages for 16 places: two were refused, the others are still being routed or waiting.
            #expect(senders.filter(\.isRunning).count == 16, "\(senders.map(\.stdout))")
            let (status, duration) = try await daemon.stop()
            #expect(status == 0, "\(daemon.log.suffix(2000))")
            #expect(duration < .milliseconds(1500), "stopped in \(duration), within the grace period")
            #expect(!daemon.log.contains("Fatal error"))
            #expect(daemon.log.contains("Event store closed"), "the store was closed cleanly: \(daemon.log.suffix(1500))")
            // Every sender has its end: the refusal, the shutdown's answer, or the connection closed at exit.
            for sender in senders { _ = try await sender.waitForExit(timeout: .seconds(10)) }
            #expect(
                line.stdout.contains(#"{"ok":false,"error":"the server is shutting down"}"#) || line.stdout.contains("(closed)")
                    || line.stdout.contains("are being routed already; retry in a moment"), "\(line.stdout)")
            let answers = webhooks.map { $0.stdout.split(separator: "\n").last.map(String.init) ?? "" }
            #expect(answers.allSatisfy { $0 == "503" || $0 == "000" }, "\(answers)")
            print("costly webhooks at the stop: \(webhooks.map { $0.stdout.contains("shutting_down") ? "shutting_down" : $0.stdout.suffix(3).description })")
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
    }

    /// `server.limits.regex_steps` bounds a message's regex searches in the daemon: bad input, a 5,000-character
    /// value for `[a-z]{1,100}x` (about 400 steps a character, two million in all) with 100,000 steps per message,
    /// by webhook and by socket line, is refused naming the rule, and nothing is published; a short value goes
    /// through, and so does a long value whose rule holds by the other test of its `any` (with a warning); a reload
    /// that raises the limit lets the long value through too.
    @Test func aMessagesRegexSearchesStopAtServerLimitsRegexSteps() async throws {
        func config(steps: Int) -> String {
            """
            store: { kind: memory }
            server:
              unix_socket: { path: ./run/hookstream.sock }
              limits: { regex_steps: \(steps) }
            auth:
              tokens: [{ name: t, secret: { value: reader-token }, subscribe: ["**"] }]
            sources:
              app: {}
              local: { unix_socket: true }
            rules:
              - name: either
                source: app
                when: { any: [{ body.other: { regex: "[a-z]{1,100}x" } }, { body.kind: push }] }
                publish: { topic: either/app }
              - { name: costly, source: app, when: { body.text: { regex: "[a-z]{1,100}x" } }, publish: { topic: matched/app } }
              - { name: rest, source: app, publish: { topic: other/app } }
              - { name: costly-line, source: local, when: { text: { regex: "[a-z]{1,100}x" } }, publish: { topic: matched/local } }
            """
        }
        try await withDaemon(config: config(steps: 100_000)) { daemon in
            let stream = try await SSEStream.open("\(daemon.baseURL)/events?topic=**", headers: [("Authorization", "Bearer reader-token")])
            let json = [("Content-Type", "application/json")]
            let long = String(repeating: "a", count: 5_000)
            let refused = try await post(daemon, "app", body: #"{"text":"\#(long)"}"#, headers: json)
            #expect(refused.status == 422, "\(refused.body)")
            #expect(refused.body.contains(#""error":"routing_failed""#), "\(refused.body)")
            #expect(refused.body.contains("rule 'costly': searching body.text (5000 characters)") && refused.body.contains("past 100000 steps"), "\(refused.body)")
            #expect(!refused.body.contains("earlier search"), "the search that failed it is the one that spent the steps")
            let socket = try UnixSocketClient(path: daemon.socketPath)
            let line = try socket.request(#"{"text":"\#(long)"}"#)
            #expect(line.hasPrefix(#"{"ok":false,"error":"#) && line.contains("rule 'costly-line'") && line.contains("past 100000 steps"), "\(line)")
            #expect(!line.contains("earlier search"))
            // Short values take a few hundred steps: the first rule matches one, the second takes the other.
            #expect(try await post(daemon, "app", body: #"{"text":"abx"}"#, headers: json).body == "{\"ids\":[1],\"topics\":[\"matched/app\"]}\n")
            #expect(try await post(daemon, "app", body: #"{"text":"abc"}"#, headers: json).body == "{\"ids\":[2],\"topics\":[\"other/app\"]}\n")
            #expect(daemon.log.components(separatedBy: "so the search was given up").count == 3, "both refusals are logged: \(daemon.log)")
            // A search given up in an any that holds by its other test: the message goes through, with a warning.
            let decided = try await post(daemon, "app", body: #"{"other":"\#(long)","kind":"push"}"#, headers: json)
            #expect(decided.body == "{\"ids\":[3],\"topics\":[\"either/app\"]}\n", "\(decided.body)")
            try await waitUntil("the warning") { daemon.log.contains("the message was routed without it") }
            #expect(daemon.log.contains("searching body.other (5000 characters)") && daemon.log.contains("hookstream.rule=either"), "\(daemon.log)")
            // Raised by a reload: the long value is searched to its end (it has no x), and the fallback takes it.
            try config(steps: 10_000_000).write(to: daemon.directory.appendingPathComponent("hookstream.yaml"), atomically: true, encoding: .utf8)
            daemon.child.signal(SIGHUP)
            try await waitUntil("the reload") { daemon.log.contains("config reloaded") }
            let accepted = try await post(daemon, "app", body: #"{"text":"\#(long)"}"#, headers: json)
            #expect(accepted.body == "{\"ids\":[4],\"topics\":[\"other/app\"]}\n", "\(accepted.body)")
            let events = try await stream.collect { $0.count == 4 }
            #expect(events.map(\.id) == ["1", "2", "3", "4"], "nothing was published for the refused messages")
        }
    }
}
