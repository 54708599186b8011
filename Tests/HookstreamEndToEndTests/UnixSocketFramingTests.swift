import Foundation
import Testing

/// How the Unix socket cuts its byte stream into lines, against the real daemon: a sender that shuts down its side
/// after its last line gets every answer, and the line limit counts a line, not what one read brought.
@Suite struct UnixSocketFramingTests {
    static let config = """
        store: { kind: memory }
        server:
          unix_socket: { path: ./run/hookstream.sock, line_bytes: 4KiB }
        sources: { local: { unix_socket: true } }
        rules:
          - { name: lines, source: local, publish: { topic: "local/{{ topic }}", data: "{{ data }}" } }
        """

    /// Three lines, the last without its newline, then `shutdown(SHUT_WR)`, as `nc -N` or a script does: three
    /// answers, then the end of the connection. (The connection used to close at once: one line stored but not
    /// answered, the others dropped.)
    @Test func aSenderThatShutsDownItsSideGetsEveryAnswer() async throws {
        try await withDaemon(config: Self.config) { daemon in
            let client = try UnixSocketClient(path: daemon.socketPath)
            try client.send(#"{"topic":"a","data":1}"# + "\n" + #"{"topic":"b","data":2}"# + "\n" + #"{"topic":"c","data":3}"#)
            try client.shutdownWrite()
            var answers: [String] = []
            while let line = try client.readLine() { answers.append(line) }
            #expect(answers == [#"{"ok":true,"ids":[1]}"#, #"{"ok":true,"ids":[2]}"#, #"{"ok":true,"ids":[3]}"#])
        }
    }

    /// Bad input: more connections than the socket serves at once, as local senders could open to hold the daemon's
    /// memory (each may hold a line of up to `line_bytes` while it arrives). One user (uid) is served 512 at once, all
    /// users together 1,024: a sender that leaks connections leaves the others their places. The connection past a
    /// bound is answered and closed; once one closes, a new one is served. Senders of other uids are run with
    /// `setpriv` (the tests run as root).
    @Test func connectionsPastTheBoundsAreAnsweredAndClosed() async throws {
        let config = Self.config.replacingOccurrences(of: "path: ./run/hookstream.sock,", with: #"path: ./run/hookstream.sock, mode: "0666","#)
        #expect(config.contains("0666"))
        try await withDaemon(config: config) { daemon in
            func asUser(_ uid: Int, _ arguments: [String]) throws -> ChildProcess {
                try ChildProcess("/usr/bin/setpriv", [
                    "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/python3", TestEnvironment.client("socket_holder.py"), daemon.socketPath,
                ] + arguments)
            }
            func line(_ key: String, of process: ChildProcess) async throws -> String {
                var found = ""
                func find() -> String? {
                    for line in process.stdout.split(separator: "\n") {
                        if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let value = object[key] {
                            return "\(value)"
                        }
                    }
                    return nil
                }
                try await waitUntil(timeout: .seconds(30), "\(key) from socket_holder") {
                    if let value = find() {
                        found = value
                        return true
                    }
                    guard !process.isRunning else { return false }
                    _ = try await process.waitForExit()  // and its output read to the end
                    guard let value = find() else { throw HarnessError("socket_holder ended: \(process.stderr) \(process.stdout)") }
                    found = value
                    return true
                }
                return found
            }

            // One user leaks connections: it is served 512, and its next one is refused.
            let other = try asUser(65534, ["512", "--probe-extra"])
            defer { other.signal(SIGKILL) }
            #expect(try await line("answer", of: other).hasPrefix(#"{"ok":true"#))
            #expect(try await line("extra", of: other).contains("serves 512 connections of one user at once"))
            _ = try await line("holding", of: other)
            try await waitUntil("the refusal in the log") { daemon.log.contains("Unix socket connections refused") }

            // This user is served all the same, up to its own 512: then the socket is full for everyone.
            var open: [UnixSocketClient] = []
            for _ in 0..<512 { open.append(try UnixSocketClient(path: daemon.socketPath)) }
            // Each is served: the last one's request is answered (the daemon accepts in order).
            #expect(try open[511].request(#"{"topic":"last","data":0}"#).hasPrefix(#"{"ok":true"#))
            let mine = try UnixSocketClient(path: daemon.socketPath)
            let refusal = try mine.readLine()
            #expect(refusal?.contains("serves 1024 connections at once") == true, "\(refusal ?? "(closed)")")
            #expect(try mine.readLine() == nil)
            let third = try asUser(65533, ["1", "--hold", "0"])
            #expect(try await line("answer", of: third).contains("serves 1024 connections at once"))

            other.signal(SIGKILL)  // its 512 close
            try await waitUntil("a third user served") {
                let retry = try asUser(65533, ["1", "--hold", "0"])
                return try await line("answer", of: retry).hasPrefix(#"{"ok":true"#)
            }
            open.removeLast()  // closes it: this user is under its bound again
            var answer: String?
            try await waitUntil("a new connection of this user served") {
                answer = try? UnixSocketClient(path: daemon.socketPath).request(#"{"topic":"again","data":0}"#)
                return answer?.hasPrefix(#"{"ok":true"#) == true
            }
            #expect(try open[0].request(#"{"topic":"first","data":0}"#).hasPrefix(#"{"ok":true"#))
        }
    }

    /// Bad input: a local user the source does not allow opens more connections than the socket serves at once,
    /// and sends nothing. Each is refused as it connects, and none counts against the bounds (their silent
    /// connections held every place, and allowed senders got "serves 1024 connections at once").
    @Test func refusedSendersDoNotTakeThePlacesOfAllowedOnes() async throws {
        let config = Self.config.replacingOccurrences(of: "local: { unix_socket: true }", with: "local: { unix_socket: true, allow_uids: [\(getuid() + 1)] }")
        #expect(config.contains("allow_uids"))
        try await withDaemon(config: config) { daemon in
            var open: [UnixSocketClient] = []
            for _ in 0..<1_100 { open.append(try UnixSocketClient(path: daemon.socketPath)) }
            for client in [open[0], open[1_023], open[1_024], open[1_099]] {
                let answer = try client.readLine()
                #expect(answer?.contains("forbidden: uid \(getuid())") == true, "\(answer ?? "(closed)")")
                #expect(try client.readLine() == nil)
            }
            #expect(!daemon.log.contains("Unix socket connections refused"))
        }
    }

    /// Forty lines of about 1,000 bytes in one write, 40,000 bytes against a 4 KiB line limit: forty answers. Each
    /// line is under the limit; NIO's buffer limit, used before, counted what one read brought (reads grow from 2 KiB
    /// to 64 KiB as they come back full) and refused the lot. A line past the limit is refused as soon as it passes it,
    /// whether its end has come or not, and the line after it is read as any other, on the same connection.
    @Test func theLineLimitCountsALineNotARead() async throws {
        try await withDaemon(config: Self.config) { daemon in
            let client = try UnixSocketClient(path: daemon.socketPath)
            let filler = String(repeating: "x", count: 980)
            let lines = (1...40).map { #"{"topic":"t","data":"\#(filler)\#($0)"}"# }
            #expect(lines.allSatisfy { $0.utf8.count < 1_024 })
            try client.send(lines.joined(separator: "\n") + "\n")
            var answers: [String] = []
            for _ in 1...40 { answers.append(try client.readLine() ?? "(closed)") }
            #expect(answers == (1...40).map { #"{"ok":true,"ids":[\#($0)]}"# })

            // Bad input: 5,000 bytes without a newline. Refused with the limit in the answer before its end comes.
            try client.send(String(repeating: "y", count: 5_000))
            let refusal = try client.readLine()
            #expect(refusal?.contains("line longer than 4096 bytes") == true, "\(refusal ?? "(closed)")")
            // Its end, then a line: the rest of the long one is passed over, and the next is stored.
            try client.send(String(repeating: "y", count: 3_000) + "\n")
            #expect(try client.request(#"{"topic":"after","data":0}"#) == #"{"ok":true,"ids":[41]}"#)
            // Bad input: a long line that arrives whole with its end, between two good ones in one write.
            try client.send(#"{"topic":"t","data":1}"# + "\n" + String(repeating: "z", count: 6_000) + "\n" + #"{"topic":"t","data":2}"# + "\n")
            let three = try (1...3).map { _ in try client.readLine() ?? "(closed)" }
            #expect(three[0] == #"{"ok":true,"ids":[42]}"# && three[2] == #"{"ok":true,"ids":[43]}"#, "\(three)")
            #expect(three[1].contains("line longer than 4096 bytes"), "\(three)")
            #expect(daemon.log.contains("Unix socket line rejected"), "the refusal is logged")
        }
    }
}
