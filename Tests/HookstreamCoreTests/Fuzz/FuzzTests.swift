import Foundation
import Testing

@testable import HookstreamCore

/// Generated inputs through the parsers a sender or an operator can reach: no crash, no hang, every failure a
/// clear error. `HOOKSTREAM_FUZZ_ITERATIONS` and `HOOKSTREAM_FUZZ_SEED` run longer or other campaigns.
@Suite(.timeLimit(.minutes(5))) struct FuzzTests {
    /// Longest any single input may take: a parser that loops or goes quadratic shows up here. With room for a busy
    /// machine: a config check of one input took 2.2 s while a release build ran beside the debug suite.
    static let perInputLimit: Duration = .seconds(5)

    static let jsonSeeds: [[UInt8]] = [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e\n\u00e9\ud83d\ude00"},"n":-1.5e-3}"#,
        #"[1, 2.0, -0, 1e309, "x", {"y": []}]"#, #""plain""#, "123456789012345678901234567890", "{}", "[]",
        #"{"repository":{"full_name":"o/r"},"commits":[{"id":"c1","message":"fix"}]}"#,
    ].map { Array($0.utf8) }

    private func timed<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
        let start = ContinuousClock.now
        let value = try body()
        return (value, ContinuousClock.now - start)
    }

    @Test func jsonParser() {
        var input = FuzzInput(seed: FuzzInput.seed)
        var parsed = 0
        var slowest = Duration.zero
        for _ in 0..<FuzzInput.iterations {
            let bytes = input.mutate(input.pick(Self.jsonSeeds))
            let (result, took) = timed { Result { () throws(JSONParseError) in try JSONParser.parse(bytes) } }
            slowest = max(slowest, took)
            switch result {
            case .success(let value):
                parsed += 1
                // What parses prints back to JSON that parses to the same value.
                #expect((try? JSONParser.parse(value.jsonText)) == value)
            case .failure(let error):
                #expect(!error.message.isEmpty)
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
        }
        #expect(slowest < Self.perInputLimit, "the slowest input took \(slowest)")
        #expect(parsed > 0 && parsed < FuzzInput.iterations, "the campaign reaches both outcomes")
    }

    static let messages: [JSONValue] = [
        try! JSONParser.parse(#"{"body":{"a":"x/y","b":[1,{"c":"d"}],"n":1e309,"s":"\u00e9 \ud83d\ude00","e":""},"header":{"x-k":"v"},"topic":"a/b"}"#),
        .object([.init("body", .string(String(repeating: "z", count: 100_000)))]),
        .null,
    ]

    @Test func templateEngine() {
        var input = FuzzInput(seed: FuzzInput.seed &+ 1)
        let seeds = [
            "deploys/{{ body.a | slug }}", "{{ body.b[1].c | default: 'x' | upper }}", "{{ body }}", "x-{{ body.n | truncate: 3 }}-{{ header.x-k }}",
            "{{ body.s | json | lower }}", "plain/topic", "{{ topic }}",
        ].map { Array($0.utf8) }
        var compiled = 0
        var slowest = Duration.zero
        for _ in 0..<FuzzInput.iterations {
            let text = String(decoding: input.mutate(input.pick(seeds)), as: UTF8.self)
            let (_, took) = timed {
                do {
                    let template = try Template(text)
                    compiled += 1
                    for message in Self.messages {
                        _ = try? template.renderText(in: message)
                        _ = try? template.renderValue(in: message)
                        if let topic = try? template.renderTopic(in: message), template.singleExpression == nil {
                            // Whatever a payload inserts, it adds no segment: every '/' comes from the template's own text.
                            let literalSlashes = template.parts.reduce(0) { count, part in
                                if case .literal(let text) = part { return count + text.utf8.count(where: { $0 == UInt8(ascii: "/") }) }
                                return count
                            }
                            #expect(topic.utf8.count(where: { $0 == UInt8(ascii: "/") }) == literalSlashes, "\(text) gave \(topic)")
                        }
                    }
                } catch let error as TemplateError {
                    #expect(!error.message.isEmpty)
                    #expect(error.template == text)
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
            slowest = max(slowest, took)
        }
        #expect(slowest < Self.perInputLimit, "the slowest input took \(slowest)")
        #expect(compiled > 0 && compiled < FuzzInput.iterations)
    }

    @Test func checkOnMutatedYAML() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var seeds = [try Data(contentsOf: root.appendingPathComponent("config/hookstream.yaml"))]
        let examples = root.appendingPathComponent("config/examples")
        for folder in (try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? [] {
            if let data = FileManager.default.contents(atPath: examples.appendingPathComponent(folder).appendingPathComponent("hookstream.yaml").path) {
                seeds.append(data)
            }
        }
        var input = FuzzInput(seed: FuzzInput.seed &+ 2)
        var valid = 0
        var slowest = Duration.zero
        let environment = ["HOOKSTREAM_FUZZ": "1"]
        for _ in 0..<FuzzInput.iterations {
            let bytes = input.mutate(Array(input.pick(seeds)))
            let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
            let (result, took) = timed {
                Result { () throws(ConfigError) in
                    guard let text = String(validating: bytes, as: UTF8.self) else {
                        throw ConfigError(diagnostics: [.init(file: "fuzz.yaml", line: 1, column: 1, message: "the file is not UTF-8 text")])
                    }
                    return try ConfigLoader.parse(text, file: "fuzz.yaml", environment: environment)
                }
            }
            slowest = max(slowest, took)
            switch result {
            case .success: valid += 1
            case .failure(let error):
                #expect(!error.diagnostics.isEmpty)
                for diagnostic in error.diagnostics {
                    #expect(diagnostic.line >= 1 && diagnostic.line <= lines + 1, "\(diagnostic)")
                    #expect(diagnostic.column >= 1, "\(diagnostic)")
                    #expect(!diagnostic.message.isEmpty)
                    #expect(diagnostic.description.hasPrefix("fuzz.yaml:\(diagnostic.line):\(diagnostic.column): error: "))
                }
            }
        }
        #expect(slowest < Self.perInputLimit, "the slowest input took \(slowest)")
        #expect(valid < FuzzInput.iterations)
    }
}
