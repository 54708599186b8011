import Foundation
import Testing

/// Generated lines (deep nesting, huge strings, invalid UTF-8, numbers at the limits, broken JSON) sent to the real
/// daemon's Unix socket: every line gets one JSON answer, the daemon never crashes or stalls, and a line over the
/// limit closes only its own connection.
@Suite(.timeLimit(.minutes(5))) struct SocketFuzzTests {
    static let config = """
        store: { kind: memory }
        server:
          unix_socket: { path: ./run/hookstream.sock, line_bytes: 64KiB }
        sources: { local: { unix_socket: true } }
        rules:
          - name: lines
            source: local
            allow_topics: ["local/**"]
            publish: { topic: "{{ topic }}", event: "{{ event | default: 'message' }}", data: "{{ data }}" }
        """

    static let seeds: [String] = [
        #"{"topic":"local/a","event":"e","data":{"x":[1,2,{"y":"z"}],"n":-0.5e10}}"#,
        #"{"topic":"local/b","data":"text with \n newline and \u00e9"}"#,
        #"{"topic":"local/c/d","data":123456789012345678901234567890}"#,
        #"{"topic":"local/e","event":"big","data":"0123456789"}"#,
    ]

    @Test func tenThousandGeneratedLines() async throws {
        let iterations = ProcessInfo.processInfo.environment["HOOKSTREAM_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 10_000
        var random = SeededGenerator(seed: 0x50C4_E7F0)
        try await withDaemon(config: Self.config) { daemon in
            let socket = try UnixSocketClient(path: daemon.socketPath)
            var ok = 0
            var refused = 0
            var tooLong = 0
            var previous: [UInt8] = []
            var previousAnswer = ""
            for iteration in 0..<iterations {
                var line = random.mutate(Array(Self.seeds[Int.random(in: 0..<Self.seeds.count, using: &random)].utf8))
                line.removeAll { $0 == UInt8(ascii: "\n") }  // one line per message
                try socket.send(bytes: line + [UInt8(ascii: "\n")])
                guard let answer = try socket.readLine() else {
                    throw HarnessError("the daemon closed the connection without answering a line of \(line.count) bytes (\(String(decoding: line.prefix(200), as: UTF8.self))) at \(iteration) after \(previous.count) bytes (\(String(decoding: previous.prefix(300), as: UTF8.self))), answered \(previousAnswer); running: \(daemon.child.isRunning); log: \(daemon.log.suffix(2000))")
                }
                previous = line
                previousAnswer = answer
                let object = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any]
                if object?["ok"] as? Bool == true {
                    ok += 1
                    #expect((object?["ids"] as? [Int])?.count == 1)
                } else {
                    let error = object?["error"] as? String ?? ""
                    #expect(!error.isEmpty, "\(answer)")
                    if error.contains("line longer than") {
                        // Only that line is refused: the connection goes on with the next.
                        tooLong += 1
                    } else {
                        refused += 1
                    }
                }
            }
            #expect(ok + refused + tooLong == iterations)
            #expect(ok > 0 && refused > 0 && tooLong > 0, "the campaign reaches every outcome: \(ok) ok, \(refused) refused, \(tooLong) too long")
            #expect(daemon.child.isRunning)
            #expect(try socket.request(#"{"topic":"local/after","data":1}"#).hasPrefix(#"{"ok":true"#))
        }
    }
}

/// SplitMix64 with the same mutations as the core fuzz tests' inputs (deep nesting, huge runs, invalid UTF-8, limits).
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static let tokens: [[UInt8]] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "1e309", "-0", "123456789012345678901234567890", "null", "true", "\u{0}", "é",
        "😀", "\"topic\":\"local/../x\"", "\"topic\":\"other/x\"", "\"event\":5", "\"topic\":\"local/*\"",
    ].map { Array($0.utf8) }

    mutating func mutate(_ seed: [UInt8]) -> [UInt8] {
        var bytes = seed
        for _ in 0..<Int.random(in: 1...3, using: &self) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &self)
            switch Int.random(in: 0..<8, using: &self) {
            case 0 where !bytes.isEmpty:
                let i = Int.random(in: 0..<bytes.count, using: &self)
                bytes[i] ^= UInt8.random(in: 1...255, using: &self)
            case 1: bytes.insert(contentsOf: Self.tokens[Int.random(in: 0..<Self.tokens.count, using: &self)], at: at)
            case 2:
                let end = min(bytes.count, at + Int.random(in: 1...16, using: &self))
                if at < end { bytes.removeSubrange(at..<end) }
            case 3: bytes.insert(contentsOf: [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x80]][Int.random(in: 0..<4, using: &self)], at: at)
            case 4 where Int.random(in: 0..<100, using: &self) < 5:
                let depth = [100, 600, 20_000][Int.random(in: 0..<3, using: &self)]
                bytes.insert(contentsOf: Array(String(repeating: "[", count: depth).utf8) + Array(String(repeating: "]", count: depth).utf8), at: at)
            case 5 where Int.random(in: 0..<100, using: &self) < 3:
                bytes.insert(contentsOf: Array(repeating: UInt8(ascii: "a"), count: [30_000, 70_000][Int.random(in: 0..<2, using: &self)]), at: at)
            default: bytes.insert(UInt8.random(in: 0x20...0x7E, using: &self), at: at)
            }
        }
        return bytes
    }
}
