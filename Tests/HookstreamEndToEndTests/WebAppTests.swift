import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// The scenario hookstream exists for: a logged-in web app shows each user their own notifications live. The app's
/// backend mints a JWT (`hookstream token` here), puts it in an HttpOnly cookie, and the page opens a native
/// `EventSource` with `withCredentials`, no polyfill. Driven in headless Chromium (`Tests/Clients/web_page.py`).
@Suite(.timeLimit(.minutes(3))) struct WebAppTests {
    let client = HTTPClient.shared
    static let secret = "a-shared-hs256-secret-of-32-bytes-or-more!"

    /// - Parameter event: the events' type (`message`, the SSE default, unless given).
    static func config(pageOrigin: String, heartbeat: String = "15s", event: String = "message") -> String {
        """
        store: { kind: sqlite, path: ./var/hookstream.db }
        streams: { heartbeat: \(heartbeat) }
        auth:
          cookie: hookstream_token
          max_streams_per_token: 8
          jwt:
            keys: [{ alg: HS256, secret: { env: HOOKSTREAM_JWT_SECRET } }]
            subscribe: ["users/{sub}/**"]
        cors:
          origins: ["\(pageOrigin)"]
        sources: { app: {} }
        rules:
          - name: per-user
            source: app
            publish: { topic: "users/{{ body.user | slug }}/alerts", event: \(event), data: { text: "{{ body.text }}" } }
        """
    }

    static let environment = ["HOOKSTREAM_JWT_SECRET": secret]

    /// A JWT as the app's backend would mint it.
    static func token(sub: String, ttl: String = "1h", extra: [String] = []) async throws -> String {
        let result = try await ChildProcess.run(
            "/usr/bin/env", ["HOOKSTREAM_JWT_SECRET=\(secret)", TestEnvironment.binary, "token", "--secret-env", "HOOKSTREAM_JWT_SECRET", "--sub", sub, "--ttl", ttl] + extra)
        guard result.status == 0 else { throw HarnessError("hookstream token failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A page in Chromium: `script` runs, `ready` is announced, `until` ends it.
    static func page(
        port: Int, cookie: String?, script: String, ready: String? = nil, until: String, result: String = "R", tabs: Int = 1, timeout: Int = 40,
        pageURL: String? = nil, chromiumArguments: [String] = []
    ) throws -> ChildProcess {
        var arguments = [TestEnvironment.client("web_page.py"), "--port", String(port), "--script", script, "--until", until, "--result", result,
                         "--tabs", String(tabs), "--timeout", String(timeout)]
        if let cookie { arguments += ["--cookie", "hookstream_token=\(cookie)"] }
        if let ready { arguments += ["--ready", ready] }
        if let pageURL { arguments += ["--page-url", pageURL] }
        for argument in chromiumArguments { arguments.append("--chromium-arg=\(argument)") }
        return try ChildProcess(TestEnvironment.python, arguments)
    }

    /// The page's result (one object per tab), once it is done.
    static func result(of page: ChildProcess) async throws -> [[String: Any]] {
        guard try await page.waitForExit(timeout: .seconds(90)) == 0 else { throw HarnessError("web_page failed: \(page.stderr)\n\(page.stdout)") }
        let line = try #require(page.stdoutLines.last { $0.hasPrefix(#"{"result""#) })
        return try #require((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["result"] as? [[String: Any]])
    }

    static func eventSource(_ url: String, types: [String] = ["message"]) -> String {
        """
        window.R = {opens: 0, errors: 0, events: [], states: []};
        window.source = new EventSource(\(json(url)), {withCredentials: true});
        source.onopen = () => R.opens++;
        source.onerror = () => { R.errors++; R.states.push(source.readyState); };
        for (const type of \(json(types))) source.addEventListener(type, e => R.events.push({type: e.type, id: e.lastEventId, data: e.data}));
        """
    }

    static func json(_ value: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]), as: UTF8.self)
    }

    private func post(_ daemon: Daemon, user: String, _ text: String) async throws -> [Int] {
        try await client.postWebhook(daemon, source: "app", json: #"{"user":"\#(user)","text":"\#(text)"}"#)
    }

    @Test func eachUserSeesOnlyTheirOwnEventsAndOnlyConfiguredOriginsRead() async throws {
        let port = try freePort()
        let origin = "http://127.0.0.1:\(port)"
        try await withDaemon(config: Self.config(pageOrigin: origin), environment: Self.environment) { daemon in
            let alice = try await Self.token(sub: "42")
            let page = try Self.page(
                port: port, cookie: alice, script: Self.eventSource("\(daemon.baseURL)/events?topic=users/42/alerts"), ready: "R.opens > 0",
                until: "R.events.length >= 2")
            try await waitUntil(timeout: .seconds(40), "the page's stream") { page.stdout.contains(#"{"ready": true}"#) }
            #expect(try await post(daemon, user: "42", "first for 42") == [1])
            #expect(try await post(daemon, user: "43", "for 43 only") == [2])
            #expect(try await post(daemon, user: "42", "second for 42") == [3])
            let tab = try #require(try await Self.result(of: page).first)
            let events = try #require(tab["events"] as? [[String: String]])
            #expect(events.map { $0["id"] } == ["1", "3"], "43's event never reaches 42's page")
            #expect(events.map { $0["data"] } == [#"{"text":"first for 42"}"#, #"{"text":"second for 42"}"#])

            // A token for 43 asking for 42's topics is refused.
            let bob = try await Self.token(sub: "43")
            let forbidden = try await client.send(.GET, "\(daemon.baseURL)/events?topic=users/42/**", headers: [("Authorization", "Bearer \(bob)")])
            #expect(forbidden.status == 403)
            #expect(forbidden.body.contains("may not subscribe to 'users/42/**'"))
            // Bad input: subjects that would widen "users/{sub}/**" grant nothing at all.
            for subject in ["*", "42/..", ""] {
                let sly = try await Self.token(sub: subject)
                let refused = try await client.send(.GET, "\(daemon.baseURL)/events?topic=users/42/alerts", headers: [("Authorization", "Bearer \(sly)")])
                #expect(refused.status == 403, "subject '\(subject)'")
            }

            // A page from an origin that is not configured cannot read the stream, even with the cookie.
            let foreign = try Self.page(
                port: try freePort(), cookie: alice, script: Self.eventSource("\(daemon.baseURL)/events?topic=users/42/alerts"),
                until: "source.readyState === 2")
            let refused = try #require(try await Self.result(of: foreign).first)
            #expect((refused["events"] as? [Any])?.isEmpty == true)
            #expect((refused["opens"] as? Int) == 0)
            // Bad input: the cookie sent by another origin's page. The stream is refused before it is opened (CORS
            // alone kept the page from reading it, but it took one of the user's places); this server's own origin
            // and the configured one are served.
            let fromEvil = try await client.send(
                .GET, "\(daemon.baseURL)/events?topic=users/42/alerts", headers: [("Cookie", "hookstream_token=\(alice)"), ("Origin", "http://evil.example")])
            #expect(fromEvil.status == 403 && fromEvil.body.contains(#""error":"origin_not_allowed""#), "\(fromEvil)")
            // An <img> or <iframe> of another site sends no Origin; the browser says where it comes from anyway.
            let fromImage = try await client.send(
                .GET, "\(daemon.baseURL)/events?topic=users/42/alerts", headers: [("Cookie", "hookstream_token=\(alice)"), ("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "no-cors")])
            #expect(fromImage.status == 403 && fromImage.body.contains(#""error":"origin_not_allowed""#), "\(fromImage)")
            for headers in [["Origin: \(origin)"], ["Origin: \(daemon.baseURL)"], ["Sec-Fetch-Site: same-origin"], ["Sec-Fetch-Site: none"], []] {
                let served = try await ChildProcess.run("/usr/bin/curl", [
                    "-sS", "--max-time", "1", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Cookie: hookstream_token=\(alice)",
                ] + headers.flatMap { ["-H", $0] } + ["\(daemon.baseURL)/events?topic=users/42/alerts"])
                #expect(served.stdout == "200", "with \(headers): \(served.stdout) \(served.stderr)")
            }

            // The CORS headers themselves: the exact origin with credentials for a configured one, nothing otherwise.
            let allowed = try await client.send(.OPTIONS, "\(daemon.baseURL)/tickets", headers: [("Origin", origin), ("Access-Control-Request-Method", "POST")])
            #expect(allowed.status == 204)
            #expect(allowed.headers.first(name: "access-control-allow-origin") == origin)
            #expect(allowed.headers.first(name: "access-control-allow-credentials") == "true")
            #expect(allowed.headers.first(name: "vary") == "Origin")
            #expect(allowed.headers.first(name: "access-control-allow-methods")?.contains("POST") == true)
            let other = try await client.send(
                .OPTIONS, "\(daemon.baseURL)/publish", headers: [("Origin", "http://evil.example"), ("Access-Control-Request-Method", "POST")])
            #expect(other.headers.first(name: "access-control-allow-methods") == nil)
            #expect(other.headers.first(name: "access-control-allow-origin") == nil)
            #expect(other.headers.first(name: "access-control-allow-credentials") == nil)
            #expect(other.headers.first(name: "vary") == "Origin", "the answer depends on the origin, for caches")
        }
    }

    /// Once `ready` is done (the page has its stream, and what the test wants before the restart), stops `first` and
    /// starts it again on the same port and store. On failure the page and the daemon are stopped.
    private func restart(_ first: Daemon, config: String, page: ChildProcess, once ready: () async throws -> Void) async throws -> Daemon {
        do {
            try await ready()
            try await first.stop()
            return try await Daemon.start(config: config, directory: first.directory, port: first.port, environment: Self.environment)
        } catch {
            page.signal(SIGKILL)
            _ = try? await first.stop()
            throw error
        }
    }

    @Test func afterARestartThePageComesBackByItselfWithEveryEventOnceInOrder() async throws {
        let port = try freePort()
        let config = Self.config(pageOrigin: "http://127.0.0.1:\(port)")
        let first = try await Daemon.start(config: config, environment: Self.environment)
        let alice = try await Self.token(sub: "42")
        let page = try Self.page(
            port: port, cookie: alice, script: Self.eventSource("\(first.baseURL)/events?topic=users/42/**"), ready: "R.events.length >= 1",
            until: "R.events.length >= 3")
        let second = try await restart(first, config: config, page: page) {
            try await waitUntil(timeout: .seconds(40), "the page's stream") { first.log.contains("Stream opened") }
            #expect(try await post(first, user: "42", "before") == [1])
            try await waitUntil(timeout: .seconds(20), "the first event in the page") { page.stdout.contains(#"{"ready": true}"#) }
        }
        do {
            // Published right after the restart, while the page is still away: it must come from the store.
            #expect(try await post(second, user: "42", "while away") == [2])
            #expect(try await post(second, user: "42", "after") == [3])
            let tab = try #require(try await Self.result(of: page).first)
            #expect((tab["events"] as? [[String: String]])?.map { $0["id"] } == ["1", "2", "3"])
            #expect(tab["opens"] as? Int == 2, "the browser reconnected once, by itself")
            #expect(second.log.contains("hookstream.last_event_id=1"), "resumed after id 1 (Last-Event-ID)")
            try await second.stop()
        } catch {
            _ = try? await second.stop()
            throw error
        }
    }

    @Test func anExpiredTokenEndsItsStreamAndATicketWorksOnce() async throws {
        let port = try freePort()
        try await withDaemon(config: Self.config(pageOrigin: "http://127.0.0.1:\(port)"), environment: Self.environment) { daemon in
            // A token that expires in 8 s (time for Chromium to start, even on a busy machine): the stream says so
            // (hookstream.expired) and ends; the browser's own reconnect, with the same expired cookie, is refused and
            // it gives up.
            let shortLived = try await Self.token(sub: "42", ttl: "8s")
            let expiring = try Self.page(
                port: port, cookie: shortLived,
                script: Self.eventSource("\(daemon.baseURL)/events?topic=users/42/alerts", types: ["message", "hookstream.expired"]),
                until: "R.events.some(e => e.type === 'hookstream.expired') && source.readyState === 2")
            let tab = try #require(try await Self.result(of: expiring).first)
            let expired = try #require((tab["events"] as? [[String: String]])?.first { $0["type"] == "hookstream.expired" })
            #expect(expired["data"] == #"{"reason":"token_expired"}"#)
            #expect(tab["opens"] as? Int == 1)
            try await waitUntil("the expiry in the log") { daemon.log.contains("Stream ended: its token expired") }

            // A ticket, fetched with the cookie (a preflighted cross-origin POST), opens one stream, once.
            let alice = try await Self.token(sub: "42")
            let script = """
                window.R = {opens: 0, second: 'pending', ticket: null};
                fetch(\(Self.json("\(daemon.baseURL)/tickets")), {method: 'POST', credentials: 'include',
                      headers: {'Content-Type': 'application/json'}, body: JSON.stringify({topics: ['users/42/alerts']})})
                  .then(r => r.json()).then(body => {
                    R.ticket = body.ticket; R.expiresIn = body.expires_in;
                    const url = \(Self.json("\(daemon.baseURL)/events?topic=users/42/alerts&ticket="))  + encodeURIComponent(body.ticket);
                    const first = new EventSource(url);
                    first.onopen = () => {
                      R.opens++;
                      const second = new EventSource(url);
                      second.onopen = () => R.second = 'open';
                      second.onerror = () => { if (second.readyState === 2) R.second = 'refused'; };
                    };
                  }).catch(e => R.error = String(e));
                """
            let refusedBefore = daemon.log.components(separatedBy: "Stream refused").count
            let ticketPage = try Self.page(port: port, cookie: alice, script: script, until: "R.opens === 1 && R.second !== 'pending'")
            let ticket = try #require(try await Self.result(of: ticketPage).first)
            #expect(ticket["second"] as? String == "refused", "a ticket works once")
            #expect(ticket["expiresIn"] as? Int == 30)
            // The log comes through a pipe: the second use's refusal, logged last, shows that the rest is in.
            try await waitUntil("the second use's refusal in the log") { daemon.log.components(separatedBy: "Stream refused").count > refusedBefore }
            #expect(!daemon.log.contains(ticket["ticket"] as? String ?? "-"), "tickets never reach the log")
            #expect(!daemon.log.contains(alice), "nor do tokens")
        }
    }

    /// A page with no cookie, running the README's ticket snippet (its URLs this daemon's): it asks for a ticket with
    /// its token in a header, opens the stream with the ticket from where the first ticket was issued (its
    /// `last_event_id`) or from the last event it saw, and asks for a new ticket when the stream is closed for good.
    /// The page has had no event when the daemon restarts; the browser's own reconnect, with the spent ticket, is
    /// refused (`401`), and the page's next stream resumes from where its first began: the event published while it
    /// was away comes from the store, the one published before the page never comes.
    @Test func aTicketPageThatHadNoEventYetComesBackAfterARestartWithWhatItMissed() async throws {
        let port = try freePort()
        let config = Self.config(pageOrigin: "http://127.0.0.1:\(port)", event: "alert")
        let first = try await Daemon.start(config: config, environment: Self.environment)
        let alice = try await Self.token(sub: "42")
        let script = """
            window.R = {opens: 0, tickets: 0, closed: 0, signIns: 0, events: []};
            const token = \(Self.json(alice));
            const signIn = () => R.signIns++;
            const showAlert = data => R.events.push({id: last, data: JSON.stringify(data)});
            \(Self.ticketSnippet(base: first.baseURL))
            """
        #expect(try await post(first, user: "42", "before the page") == [1])
        let page = try Self.page(port: port, cookie: nil, script: script, ready: "R.opens >= 1", until: "R.events.length >= 2")
        let second = try await restart(first, config: config, page: page) {
            try await waitUntil(timeout: .seconds(40), "the page's stream") { page.stdout.contains(#"{"ready": true}"#) }
        }
        do {
            #expect(try await post(second, user: "42", "while away") == [2])
            try await waitUntil(timeout: .seconds(30), "the page's second stream") { second.log.contains("Stream opened") }
            #expect(try await post(second, user: "42", "after") == [3])
            let tab = try #require(try await Self.result(of: page).first)
            let events = try #require(tab["events"] as? [[String: String]])
            #expect(events.map { $0["id"] } == ["2", "3"], "\(tab)")
            #expect(events.map { $0["data"] } == [#"{"text":"while away"}"#, #"{"text":"after"}"#])
            #expect(tab["tickets"] as? Int == 2 && tab["opens"] as? Int == 2, "one new ticket and stream after the restart: \(tab)")
            #expect((tab["closed"] as? Int ?? 0) >= 1, "the spent ticket's reconnect was refused for good: \(tab)")
            #expect(tab["signIns"] as? Int == 0, "the token stayed good: \(tab)")
            #expect(second.log.contains("hookstream.last_event_id=1"), "resumed after id 1, where the first ticket was issued")
            #expect(second.log.contains("Stream refused"), "the browser's own reconnect with the spent ticket")
            try await second.stop()
        } catch {
            page.signal(SIGKILL)
            _ = try? await second.stop()
            throw error
        }
    }

    /// The README's ticket snippet, its URLs `base`'s, counting in `R` the tickets it got, the streams it opened and
    /// closed for good; the page defines `token`, `signIn` and `showAlert`.
    static func ticketSnippet(base: String) -> String {
        """
        let last;
        async function open() {
          let answer;
          try {
            answer = await fetch(\(json("\(base)/tickets")), { method: 'POST',
              headers: { 'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json' },
              body: JSON.stringify({ topics: ['users/42/alerts'] }) });
          } catch { return setTimeout(open, 1000); }
          if (answer.status === 401) return signIn();
          if (!answer.ok) return setTimeout(open, 5000);
          const body = await answer.json();
          last ??= body.last_event_id;
          R.tickets++;
          const events = new EventSource(`\(base)/events?topic=users/42/alerts&ticket=${body.ticket}&lastEventId=${last}`);
          events.onopen = () => R.opens++;
          events.addEventListener('alert', e => { last = e.lastEventId; showAlert(JSON.parse(e.data)); });
          events.addEventListener('hookstream.expired', () => { events.close(); signIn(); });
          events.onerror = () => { if (events.readyState === EventSource.CLOSED) { R.closed++; setTimeout(open, 1000); } };
        }
        open();
        """
    }

    /// The ticket snippet with a token that expires while its stream is open: the stream says `hookstream.expired`,
    /// and the page goes to its sign-in, where it once asked for tickets with the expired token every second.
    @Test func aTicketPageWhoseTokenExpiresGoesToItsSignIn() async throws {
        let port = try freePort()
        try await withDaemon(config: Self.config(pageOrigin: "http://127.0.0.1:\(port)", event: "alert"), environment: Self.environment) { daemon in
            let brief = try await Self.token(sub: "42", ttl: "4s")
            let script = """
                window.R = {opens: 0, tickets: 0, closed: 0, signIns: 0, events: []};
                const token = \(Self.json(brief));
                const signIn = () => R.signIns++;
                const showAlert = data => R.events.push(data);
                \(Self.ticketSnippet(base: daemon.baseURL))
                """
            let page = try Self.page(port: port, cookie: nil, script: script, ready: "R.opens >= 1", until: "R.signIns >= 1")
            let tab = try #require(try await Self.result(of: page).first)
            #expect(tab["tickets"] as? Int == 1 && tab["opens"] as? Int == 1, "\(tab)")
            #expect(tab["signIns"] as? Int == 1, "\(tab)")
            #expect(daemon.log.contains("Stream ended: its token expired"))
        }
    }

    /// Bad input: a page of another site posting to a webhook source that has no signature, as any site the operator
    /// visits could (a `no-cors` fetch and a form need no CORS preflight). Chromium sends it; it is refused
    /// (`403 origin_not_allowed`) and nothing is published. The configured origin's page may post; a server (no
    /// `Origin`) posts as before.
    @Test func aPageOfAnotherSiteCannotPostWebhooks() async throws {
        let port = try freePort()
        try await withDaemon(config: Self.config(pageOrigin: "http://127.0.0.1:\(port)"), environment: Self.environment) { daemon in
            func postFromPage(port: Int) async throws {
                let script = """
                    window.R = {done: false};
                    fetch(\(Self.json("\(daemon.baseURL)/hooks/app")), {method: 'POST', mode: 'no-cors', body: new Blob(['{"user":"42","text":"from a page"}'])})
                      .then(() => R.done = true, () => R.done = true);
                    const form = document.createElement('form');
                    form.method = 'POST'; form.action = \(Self.json("\(daemon.baseURL)/hooks/app"));
                    form.enctype = 'application/x-www-form-urlencoded'; form.target = 'sink';
                    const input = document.createElement('input');
                    input.name = 'payload'; input.value = '{"user":"42","text":"from a form"}';
                    form.appendChild(input);
                    const sink = document.createElement('iframe'); sink.name = 'sink'; document.body.appendChild(sink);
                    sink.onload = () => R.formDone = true;
                    document.body.appendChild(form); form.submit();
                    """
                let page = try Self.page(port: port, cookie: nil, script: script, until: "R.done && R.formDone")
                _ = try await Self.result(of: page)
            }
            let rejectedBefore = daemon.log.components(separatedBy: "Webhook rejected").count
            try await postFromPage(port: try freePort())
            try await waitUntil("both refusals in the log") { daemon.log.components(separatedBy: "Webhook rejected").count >= rejectedBefore + 2 }
            #expect(daemon.log.contains("status=403") && daemon.log.contains("a source without verify: takes no webhook from a page of another origin"))
            // The configured origin's page is not another site: its fetch and its form are taken.
            try await postFromPage(port: port)
            try await waitUntil("the two events from the configured page") { daemon.log.components(separatedBy: "Webhook accepted").count - 1 >= 2 }
            #expect(try await post(daemon, user: "42", "from a server") == [3], "the foreign page published nothing")
        }
    }

    /// A page of a configured origin posts JSON to a source without `verify:` with `fetch`, as any app would: Chromium
    /// asks first (`OPTIONS`, for the `Content-Type` and a header of the page's own), then posts, and the page reads
    /// the `202`. Bad input: the same fetch from a page of an origin that is not configured, which the preflight's
    /// answer (no CORS headers) stops before anything is posted, and a preflight asking to send a header list that is
    /// not one (nothing of it is echoed).
    @Test func aConfiguredPagePostsJSONWebhooksAndReadsTheAnswer() async throws {
        let port = try freePort()
        try await withDaemon(config: Self.config(pageOrigin: "http://127.0.0.1:\(port)"), environment: Self.environment) { daemon in
            func postFromPage(port: Int) async throws -> [String: Any] {
                let script = """
                    window.R = {done: false};
                    fetch(\(Self.json("\(daemon.baseURL)/hooks/app")), {method: 'POST', credentials: 'include',
                          headers: {'Content-Type': 'application/json', 'X-Request-Origin': 'page'}, body: '{"user":"42","text":"from the app"}'})
                      .then(r => r.text().then(body => { R.status = r.status; R.body = body; R.done = true; }),
                            e => { R.error = String(e); R.done = true; });
                    """
                let page = try Self.page(port: port, cookie: nil, script: script, until: "R.done")
                return try #require(try await Self.result(of: page).first)
            }
            let posted = try await postFromPage(port: port)
            #expect(posted["status"] as? Int == 202, "\(posted)")
            #expect(posted["body"] as? String == #"{"ids":[1],"topics":["users/42/alerts"]}"# + "\n", "\(posted)")
            let foreign = try await postFromPage(port: try freePort())
            #expect(foreign["status"] == nil && (foreign["error"] as? String)?.contains("Failed to fetch") == true, "\(foreign)")
            #expect(try await post(daemon, user: "42", "from a server") == [2], "the foreign page's fetch published nothing")

            let origin = "http://127.0.0.1:\(port)"
            let odd = try await client.send(
                .OPTIONS, "\(daemon.baseURL)/hooks/app",
                headers: [("Origin", origin), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "content-type, x(a)")])
            #expect(odd.status == 204 && odd.headers.first(name: "access-control-allow-headers") == "Content-Type", "\(odd.headers)")
            #expect(odd.headers.first(name: "access-control-allow-methods") == "POST, PUT, PATCH, OPTIONS")
        }
    }

    /// A page of a configured origin reads the stream as EventSource polyfills do: `fetch` with `Authorization` and
    /// the headers polyfills add of their own (`Cache-Control: no-cache`, `X-Requested-With`), which Chromium asks
    /// for first in a CORS preflight. The preflight allows what it asks, the page reads the event. Bad input: a
    /// proxy's basic auth beside the query's token (curl), which neither hides the token nor is refused.
    @Test func aPolyfillsFetchWithItsOwnHeadersPassesThePreflightAndReadsTheStream() async throws {
        let port = try freePort()
        try await withDaemon(config: Self.config(pageOrigin: "http://127.0.0.1:\(port)"), environment: Self.environment) { daemon in
            let alice = try await Self.token(sub: "42")
            let script = """
                window.R = {done: false, text: ''};
                fetch(\(Self.json("\(daemon.baseURL)/events?topic=users/42/alerts")), {headers: {'Authorization': `Bearer ${\(Self.json(alice))}`,
                      'Cache-Control': 'no-cache', 'Accept': 'text/event-stream', 'X-Requested-With': 'XMLHttpRequest'}})
                  .then(async response => {
                    R.status = response.status;
                    const reader = response.body.getReader(), decoder = new TextDecoder();
                    while (!R.text.includes('from the app')) {
                      const {value, done} = await reader.read();
                      if (done) break;
                      R.text += decoder.decode(value, {stream: true});
                    }
                    R.done = true;
                  }, e => { R.error = String(e); R.done = true; });
                """
            let page = try Self.page(port: port, cookie: nil, script: script, ready: "R.status === 200 || R.done", until: "R.done")
            try await waitUntil(timeout: .seconds(40), "the page's stream") { page.stdout.contains(#"{"ready": true}"#) }
            #expect(try await post(daemon, user: "42", "from the app") == [1])
            let tab = try #require(try await Self.result(of: page).first)
            #expect(tab["status"] as? Int == 200 && tab["error"] == nil, "\(tab)")
            #expect((tab["text"] as? String)?.contains(#"data: {"text":"from the app"}\#nid: 1"#) == true, "\(tab)")
            // What Chromium asked, asked directly: the list comes back as sent (names only; a malformed one is the
            // webhook test's above).
            let preflight = try await client.send(
                .OPTIONS, "\(daemon.baseURL)/events?topic=users/42/alerts",
                headers: [("Origin", "http://127.0.0.1:\(port)"), ("Access-Control-Request-Method", "GET"),
                          ("Access-Control-Request-Headers", "accept,authorization,cache-control,x-requested-with")])
            #expect(preflight.status == 204 && preflight.headers.first(name: "access-control-allow-headers") == "accept, authorization, cache-control, x-requested-with",
                    "\(preflight.headers)")

            let proxied = try await ChildProcess.run("/usr/bin/curl", [
                "-sS", "--max-time", "1", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Basic dTpw",
                "\(daemon.baseURL)/events?topic=users/42/alerts&access_token=\(alice)",
            ])
            #expect(proxied.stdout == "200", "\(proxied.stdout) \(proxied.stderr)")
        }
    }

    /// Bad input: a DNS-rebinding page. A site's page whose name (`rebind.test`) its DNS points at 127.0.0.1 once the
    /// page has loaded is same-origin with the daemon as far as the browser knows: no `Origin` test stops it, and a
    /// same-origin `GET` over plain HTTP carries neither `Origin` nor `Sec-Fetch-Site`. Here Chromium's
    /// `--host-resolver-rules` maps the name to 127.0.0.1 from the start, and the page is the daemon's own answer
    /// under that name: the same origin, and the same requests, as the attacker's page would make. Its requests are refused by their `Host` (`403 host_not_allowed`): the
    /// page cannot read `/metrics` nor post to a source without `verify:`, and nothing is published. (Before the
    /// change, both went through.) Under `127.0.0.1` or `localhost` the daemon answers as before, and with the name in
    /// `server.hosts` the same page may do both.
    @Test func aPageUnderARebindingNameCannotReadMetricsNorPostWebhooks() async throws {
        func visit(_ daemon: Daemon) async throws -> [String: Any] {
            let script = """
                window.R = {};
                fetch('/metrics').then(r => r.text().then(t => { R.metrics = r.status; R.metricsBody = t.slice(0, 300); }), e => R.metrics = String(e));
                fetch('/hooks/app', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{"user":"42","text":"rebound"}'})
                  .then(r => r.text().then(t => { R.hook = r.status; R.hookBody = t; }), e => R.hook = String(e));
                """
            let page = try Self.page(
                port: 0, cookie: nil, script: script, until: "R.metrics !== undefined && R.hook !== undefined",
                pageURL: "http://rebind.test:\(daemon.port)/console", chromiumArguments: ["--host-resolver-rules=MAP rebind.test 127.0.0.1"])
            return try #require(await Self.result(of: page).first)
        }
        func curl(_ daemon: Daemon, host: String) async throws -> String {
            try await ChildProcess.run(
                "/usr/bin/env", ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: \(host)", "\(daemon.baseURL)/metrics"]
            ).stdout
        }
        let config = Self.config(pageOrigin: "http://127.0.0.1:1")
        try await withDaemon(config: config, environment: Self.environment) { daemon in
            let refused = try await visit(daemon)
            #expect(refused["metrics"] as? Int == 403, "\(refused)")
            #expect((refused["metricsBody"] as? String)?.contains("hookstream_") == false)
            #expect(refused["hook"] as? Int == 403, "\(refused)")
            #expect((refused["hookBody"] as? String)?.contains(#""error":"host_not_allowed""#) == true)
            #expect((refused["hookBody"] as? String)?.contains("add 'rebind.test' to server.hosts") == true, "the answer says how to allow the name")
            try await waitUntil("the refusal in the log") { daemon.log.contains("Requests refused for their Host: not localhost, an IP address or a name in server.hosts") }
            #expect(daemon.log.contains("host=rebind.test:\(daemon.port)"))
            #expect(try await post(daemon, user: "42", "from a server") == [1], "the rebound page published nothing")
            #expect(try await curl(daemon, host: "localhost:\(daemon.port)") == "200")
            #expect(try await curl(daemon, host: "[::1]:\(daemon.port)") == "200")
            #expect(try await curl(daemon, host: "rebind.test") == "403")
            // Bad input: two Host headers, an allowed one first (a proxy in front may have read either).
            let twice = try await ChildProcess.run("/usr/bin/env", [
                "python3", "-c",
                "import socket, sys; s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); "
                    + "s.sendall(b'GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nHost: rebind.test\\r\\n\\r\\n'); print(s.recv(200).split(b'\\r\\n')[0].decode())",
                "\(daemon.port)",
            ])
            #expect(twice.stdout.hasPrefix("HTTP/1.1 400"), "\(twice.stdout) \(twice.stderr)")
        }
        try await withDaemon(config: config + "\nserver: { hosts: [rebind.test] }\n", environment: Self.environment) { daemon in
            let allowed = try await visit(daemon)
            #expect(allowed["metrics"] as? Int == 200, "\(allowed)")
            #expect((allowed["metricsBody"] as? String)?.contains("hookstream_") == true)
            #expect(allowed["hook"] as? Int == 202, "\(allowed)")
            #expect(try await curl(daemon, host: "REBIND.test.") == "200", "names are compared as DNS compares them")
            #expect(try await curl(daemon, host: "other.test") == "403")
        }
    }

    /// `hookstream token --kid`: a token signed with an ES256 key made by openssl, whose public half is published in
    /// `auth.jwt.jwks` under kid `k1`. With `--kid k1` it opens a stream; without a kid, or with another, it is
    /// refused (a JWKS key is tried only for the tokens that name it).
    @Test func aTokenMintedWithAKeyIDIsCheckedByTheJWKSKeyItNames() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let key = directory.appendingPathComponent("es256.pem").path
        let made = try await ChildProcess.run("/usr/bin/env", ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key])
        guard made.status == 0 else { throw HarnessError("openssl: \(made.stderr)") }
        // The public key's DER ends with the uncompressed point: 0x04, then x and y, 32 bytes each.
        let der = directory.appendingPathComponent("public.der").path
        let exported = try await ChildProcess.run("/usr/bin/env", ["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER", "-out", der])
        guard exported.status == 0 else { throw HarnessError("openssl: \(exported.stderr)") }
        let point = Array(try Data(contentsOf: URL(fileURLWithPath: der)).suffix(65))
        #expect(point[0] == 4)
        let x = Self.base64URL(Data(point[1..<33])), y = Self.base64URL(Data(point[33..<65]))
        let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k1","x":"\#(x)","y":"\#(y)"}]}"#
        try await withDaemon(config: Self.config(jwks: jwks), directory: directory) { (daemon: Daemon) async throws in
            func open(kid: [String]) async throws -> (status: UInt, body: String) {
                let minted = try await ChildProcess.run(TestEnvironment.binary, ["token", "--key", key, "--sub", "42", "--ttl", "5m"] + kid)
                guard minted.status == 0 else { throw HarnessError("hookstream token: \(minted.stderr)") }
                let token = minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                let stream = try await ChildProcess.run("/usr/bin/curl", [
                    "-sS", "--max-time", "1", "-w", "\n%{http_code}", "-H", "Authorization: Bearer \(token)", "\(daemon.baseURL)/events?topic=users/42/alerts",
                ])
                let lines = stream.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                return (UInt(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
            }
            #expect(try await open(kid: ["--kid", "k1"]).status == 200)
            for kid in [[], ["--kid", "k2"]] {
                // No kid: the JWKS key is not tried; k2 names no key.
                let refused = try await open(kid: kid)
                #expect(refused.status == 401, "\(kid): \(refused)")
                #expect(refused.body.contains("no configured key is for it (a key of auth.jwt.jwks is tried only for a token whose kid names it)"), "\(kid): \(refused)")
            }
        }
    }

    /// A JWKS RSA key without `alg` (as Microsoft Entra publishes its keys) checks RS256 tokens, and a token that names
    /// the key cannot choose another algorithm for it. Bad input: a forged token naming the key with PS256 and a junk
    /// signature, sent first: jwt-kit once took the key's algorithm from it and kept it, and refused every real
    /// token until a reload.
    @Test func aJWKSKeyWithoutAnAlgorithmCannotBeGivenOneByAToken() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let key = directory.appendingPathComponent("rsa.pem").path
        let made = try await ChildProcess.run("/usr/bin/env", ["openssl", "genrsa", "-out", key, "2048"])
        guard made.status == 0 else { throw HarnessError("openssl: \(made.stderr)") }
        let modulus = try await ChildProcess.run("/usr/bin/env", ["openssl", "rsa", "-in", key, "-noout", "-modulus"])
        let hex = try #require(modulus.stdout.split(separator: "=").last?.trimmingCharacters(in: .whitespacesAndNewlines), "\(modulus)")
        var bytes: [UInt8] = []
        var digits = hex.makeIterator()
        while let high = digits.next(), let low = digits.next() { bytes.append(UInt8(String([high, low]), radix: 16)!) }
        let jwks = #"{"keys":[{"kty":"RSA","kid":"k1","n":"\#(Self.base64URL(Data(bytes)))","e":"AQAB"}]}"#
        try await withDaemon(config: Self.config(jwks: jwks), directory: directory) { (daemon: Daemon) async throws in
            func open(_ token: String) async throws -> UInt {
                let stream = try await ChildProcess.run("/usr/bin/curl", [
                    "-sS", "--max-time", "1", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)",
                    "\(daemon.baseURL)/events?topic=users/42/alerts",
                ])
                return UInt(stream.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            }
            let header = Self.base64URL(Data(#"{"alg":"PS256","kid":"k1","typ":"JWT"}"#.utf8))
            let claims = Self.base64URL(Data(#"{"sub":"42","exp":4102444800}"#.utf8))
            #expect(try await open("\(header).\(claims).\(Self.base64URL(Data(repeating: 7, count: 256)))") == 401)
            let minted = try await ChildProcess.run(TestEnvironment.binary, ["token", "--key", key, "--alg", "RS256", "--kid", "k1", "--sub", "42", "--ttl", "5m"])
            guard minted.status == 0 else { throw HarnessError("hookstream token: \(minted.stderr)") }
            #expect(try await open(minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == 200, "the key checks RS256 tokens still")
        }
    }

    /// Base64url without padding, as JWKs and JWTs write their bytes (RFC 7515 2).
    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A daemon's configuration whose streams are opened with JWTs checked by the keys of `jwks` (a JWKS document).
    static func config(jwks: String) -> String {
        """
        store: { kind: memory }
        auth:
          jwt:
            jwks: { value: '\(jwks)' }
            subscribe: ["users/{sub}/**"]
        sources: { app: {} }
        """
    }

    /// An HMAC secret at least as long as the hash, for `hookstream token` as for the server's keys (RFC 7518 3.2).
    /// Bad input: a 40-byte secret for HS512, which needs 64.
    @Test func tokenRefusesAnHMACSecretShorterThanItsHash() async throws {
        for (secret, works) in [(String(repeating: "s", count: 40), false), (String(repeating: "s", count: 64), true)] {
            let minted = try await ChildProcess.run(
                "/usr/bin/env", ["S=\(secret)", TestEnvironment.binary, "token", "--secret-env", "S", "--alg", "HS512", "--sub", "1", "--ttl", "1m"])
            #expect((minted.status == 0) == works, "\(secret.count) bytes: \(minted.stderr)")
            if !works { #expect(minted.stderr.contains("an HS512 secret must be at least 64 bytes long"), "\(minted.stderr)") }
        }
    }

    /// Bad input: an RSA key (made by openssl) without `--alg`, which then means ES256. The error names the key's kind
    /// and the option that fits it, and with that option the token is minted.
    @Test func tokenSaysWhichAlgorithmAKeyOfAnotherKindNeeds() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let key = directory.appendingPathComponent("rsa.pem").path
        let made = try await ChildProcess.run("/usr/bin/openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key])
        #expect(made.status == 0, "\(made.stderr)")
        let refused = try await ChildProcess.run(TestEnvironment.binary, ["token", "--key", key, "--sub", "1", "--ttl", "1m"])
        #expect(refused.status == 64 && refused.stderr.contains("not a usable ES256 private key: the file holds a key for RS256; give --alg RS256"), "\(refused.stderr)")
        let minted = try await ChildProcess.run(TestEnvironment.binary, ["token", "--key", key, "--alg", "RS256", "--sub", "1", "--ttl", "1m"])
        #expect(minted.status == 0 && minted.stdout.split(separator: ".").count == 3, "\(minted.stderr)")
        // Bad input: lifetimes that overflow a second count, or exceed a hundred years: a usage error, not a crash.
        for ttl in ["99999999999999999d", "36501d", "0s", "soon"] {
            let odd = try await ChildProcess.run(TestEnvironment.binary, ["token", "--key", key, "--alg", "RS256", "--sub", "1", "--ttl", ttl])
            #expect(odd.status == 64 && odd.stderr.contains("--ttl must be a duration above zero like 30s, 15m, 1h or 7d, at most 36500d"), "\(ttl): \(odd.stderr)")
        }
    }

    /// `hookstream token --audience` once per audience: one is written as a string, several as a list, and a server
    /// whose `auth.jwt.audience` is any of them takes the token. Bad input: a token for another audience only, and one
    /// without `aud`, where the server requires its own.
    @Test func aTokenMintedForSeveralAudiencesIsTakenByEach() async throws {
        let config = """
            store: { kind: memory }
            auth:
              jwt:
                keys: [{ alg: HS256, secret: { env: HOOKSTREAM_JWT_SECRET } }]
                audience: hookstream
                subscribe: ["users/{sub}/**"]
            sources: { app: {} }
            """
        func audience(of token: String) throws -> Any? {
            var payload = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            payload += String(repeating: "=", count: (4 - payload.count % 4) % 4)
            let claims = try JSONSerialization.jsonObject(with: try #require(Data(base64Encoded: payload))) as? [String: Any]
            return claims?["aud"]
        }
        try await withDaemon(config: config, environment: Self.environment) { (daemon: Daemon) async throws in
            func ticket(_ token: String) async throws -> (status: UInt, headers: HTTPHeaders, body: String) {
                try await client.send(
                    .POST, "\(daemon.baseURL)/tickets", body: #"{"topics":["users/42/alerts"]}"#,
                    headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")])
            }
            let both = try await Self.token(sub: "42", extra: ["--audience", "app", "--audience", "hookstream"])
            #expect(try audience(of: both) as? [String] == ["app", "hookstream"])
            let taken = try await ticket(both)
            #expect(taken.status == 200, "\(taken)")
            let other = try await Self.token(sub: "42", extra: ["--audience", "app"])
            #expect(try audience(of: other) as? String == "app")
            let refused = try await ticket(other)
            #expect(refused.status == 401 && refused.body.contains("audience"), "\(refused)")
            let none = try await Self.token(sub: "42")
            #expect(try audience(of: none) == nil)
            let noAudience = try await ticket(none)
            #expect(noAudience.status == 401 && noAudience.body.contains("names no audience"), "\(noAudience)")
            #expect(try audience(of: try await Self.token(sub: "42", extra: ["--audience", "a", "--audience", "a"])) as? String == "a", "once each")
            // Bad input: an empty audience, which no server's auth.jwt.audience can be.
            await #expect(throws: HarnessError.self) { try await Self.token(sub: "42", extra: ["--audience", ""]) }
        }
    }

    @Test func sevenTabsOfOneProfileOverHTTP1() async throws {
        let port = try freePort()
        try await withDaemon(config: Self.config(pageOrigin: "http://127.0.0.1:\(port)"), environment: Self.environment) { daemon in
            let alice = try await Self.token(sub: "42")
            // Each tab opens one EventSource to hookstream. A tab is done once its stream is open, or, still waiting,
            // after 6 s: a deliberate wait, since only time shows that a stream does not open (the six others open
            // well within it; every tab stays open until all are done).
            let script = Self.eventSource("\(daemon.baseURL)/events?topic=users/42/alerts") + "setTimeout(() => R.settled = true, 6000);"
            let page = try Self.page(
                port: port, cookie: alice, script: script, until: "R.opens === 1 || R.settled === true",
                result: "{opens: R.opens, state: source.readyState}", tabs: 7)
            let tabs = try await Self.result(of: page)
            let open = tabs.filter { ($0["opens"] as? Int ?? 0) > 0 }
            let waiting = tabs.filter { $0["state"] as? Int == 0 }
            // What browsers do over HTTP/1.1: at most six connections to one host, so the seventh stream waits
            // (CONNECTING) for one of the others to close. Over HTTP/2 they share one connection (README: proxy).
            #expect(open.count == 6, "\(tabs)")
            #expect(waiting.count == 1, "\(tabs)")
        }
    }
}

/// A TCP port no one listens on now (bound and released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw HarnessError("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
