import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// `store.kind: postgres`: two real daemons on one PostgreSQL database (a scratch server of this test), as behind a
/// load balancer. What one takes, the other's subscribers get, in one id sequence; a resume on either reads the shared
/// log; a database that goes away is a clear 503 and nothing accepted is lost; both catch up once it is back.
@Suite(.timeLimit(.minutes(3))) struct SharedStoreTests {
    let client = HTTPClient.shared

    /// The default config's demo source, rule and token, on a PostgreSQL store reached through `socketFolder`.
    private func config(_ socketFolder: String) -> String {
        """
        store:
          kind: postgres
          postgres: { host: "\(socketFolder)", user: hookstream, database: postgres }
        auth:
          tokens:
            - name: demo
              secret: { value: demo-token }
              subscribe: ["demo/**"]
        sources:
          demo: {}
        rules:
          - name: demo-webhook
            source: demo
            publish:
              topic: "demo/{{ body.channel | default: 'general' }}"
              data: "{{ body }}"
        """
    }

    private func postgres(_ command: String, _ folder: String) async throws {
        let script = TestEnvironment.packageRoot.appendingPathComponent("scripts/postgres-scratch").path
        let result = try await ChildProcess.run(script, [command, folder])
        guard result.status == 0 else { throw HarnessError("postgres-scratch \(command) failed: \(result.stdout)\(result.stderr)") }
    }

    private func ids(in curl: ChildProcess) -> [Int] {
        curl.stdout.matches(of: /id: (\d+)\ndata:/).map { Int($0.1)! }
    }

    @Test func twoDaemonsShareOneLogAndSurviveTheDatabaseGoingAway() async throws {
        let folder = try TestEnvironment.makeTemporaryDirectory().appendingPathComponent("pg").path
        try await postgres("start", folder)
        do {
            try await runTwoDaemons(on: folder)
            try await postgres("stop", folder)
        } catch {
            try? await postgres("stop", folder)
            throw error
        }
    }

    private func runTwoDaemons(on folder: String) async throws {
        let yaml = config(folder)
        try await withDaemon(config: yaml) { first in
            try await withDaemon(config: yaml) { second in
                let curls = try [first, second].map { daemon in
                    try ChildProcess(
                        "/usr/bin/env", ["curl", "-sS", "-N", "--max-time", "60", "\(daemon.baseURL)/events?topic=demo/**&access_token=demo-token"])
                }
                try await waitUntil("both streams to open") { curls.allSatisfy { $0.stdout.contains(": hookstream stream open") } }

                // Webhooks to either daemon, alternating: one id sequence, every event on both streams, in order.
                for n in 0..<6 {
                    let ids = try await client.postWebhook(n % 2 == 0 ? first : second, json: #"{"channel":"c","n":\#(n)}"#)
                    #expect(ids == [n + 1])
                }
                for curl in curls {
                    try await waitUntil("six events on a stream") { ids(in: curl).count >= 6 }
                    #expect(ids(in: curl) == Array(1...6))
                }

                // A resume on the other daemon reads what the first stored.
                let replay = try await SSEStream.open("\(second.baseURL)/events?topic=demo/**&lastEventId=4", headers: [("Authorization", "Bearer demo-token")])
                #expect(try await replay.collect { $0.count == 2 }.map(\.id) == ["5", "6"])

                // Bad input from outside: the database stops. A webhook is refused with a JSON 503, readiness says so,
                // and the events accepted before are kept.
                try await postgres("stop", folder)
                let refused = try await client.send(
                    .POST, "\(first.baseURL)/hooks/demo", body: #"{"channel":"c","n":"lost"}"#, headers: [("Content-Type", "application/json")])
                #expect(refused.status == 503, "\(refused.body)")
                #expect(refused.body.contains(#""error""#) && !refused.body.contains("postgresql://"), "\(refused.body)")
                let ready = try await client.send(.GET, "\(first.baseURL)/readyz")
                #expect(ready.status == 503, "\(ready.body)")

                // Back: appends work again, and the other daemon's listener reconnects and delivers them.
                try await postgres("start", folder)
                try await waitUntil(timeout: .seconds(30), "the first daemon to take events again") {
                    (try? await client.postWebhook(first, json: #"{"channel":"c","n":"back"}"#)) != nil
                }
                for curl in curls {
                    try await waitUntil(timeout: .seconds(30), "the event after the outage on a stream") { ids(in: curl).count >= 7 }
                    #expect(ids(in: curl) == Array(1...7), "nothing doubled or lost, and the refused webhook took no id")
                }
                #expect(try await client.send(.GET, "\(first.baseURL)/readyz").status == 200)
                #expect(try await client.send(.GET, "\(second.baseURL)/readyz").status == 200)
                for curl in curls { curl.signal(SIGTERM) }
                // A clean stop: the store closes after the listeners, its service last, and the exit status says so.
                #expect(try await second.stop().status == 0, "\(second.log)")
            }
            #expect(try await first.stop().status == 0, "\(first.log)")
        }
    }

    /// Bad input in the file: a PostgreSQL store without its database, and a bad TLS mode, each told with its position.
    @Test func aPostgresStoreWithoutItsSettingsIsAConfigError() async throws {
        let folder = try TestEnvironment.makeTemporaryDirectory()
        let path = folder.appendingPathComponent("bad.yaml").path
        try "store:\n  kind: postgres\n".write(toFile: path, atomically: true, encoding: .utf8)
        let missing = try await ChildProcess.run(TestEnvironment.binary, ["check", "--config", path])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("\(path):2:9: error: store.kind postgres needs store.postgres"), "\(missing.stderr)")
        try "store:\n  kind: postgres\n  postgres:\n    host: db\n    tls: sometimes\n".write(toFile: path, atomically: true, encoding: .utf8)
        let tls = try await ChildProcess.run(TestEnvironment.binary, ["check", "--config", path])
        #expect(tls.stderr.contains("\(path):5:10: error: store.postgres.tls must be disable, prefer or require, found 'sometimes'"), "\(tls.stderr)")
    }
}
