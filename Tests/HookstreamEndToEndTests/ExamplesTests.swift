import Foundation
import Testing

/// The example configs in `config/examples/`, run by the real binary from each example's folder: every
/// `hookstream.yaml` passes `hookstream check`, and every line of its `route.txt`
/// (`<hookstream route arguments> => <topics>`) routes its sample to exactly those topics, in order. Each secret
/// the config reads with `{ env: NAME }` gets a dummy value; the documented examples must all be there.
@Suite(.timeLimit(.minutes(2))) struct ExamplesTests {
    static let root = TestEnvironment.packageRoot.appendingPathComponent("config/examples")

    /// The example folders, by name.
    static var folders: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &isDirectory) && isDirectory.boolValue
        }.sorted()
    }

    @Test func theDocumentedExamplesExist() {
        let found = Set(Self.folders)
        for name in ["github", "stripe", "gitlab", "alertmanager", "shell"] {
            #expect(found.contains(name), "config/examples/\(name) is missing")
        }
    }

    @Test(arguments: ExamplesTests.folders)
    func exampleIsValidAndRoutesItsSamples(_ name: String) async throws {
        let folder = Self.root.appendingPathComponent(name)
        let config = try String(contentsOf: folder.appendingPathComponent("hookstream.yaml"), encoding: .utf8)
        var environment: [String: String] = [:]
        for match in config.matches(of: #/\{\s*env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}/#) {
            environment[String(match.output.1)] = "dummy-\(match.output.1.lowercased())"
        }

        let check = try await Self.hookstream(["check", "--config", "hookstream.yaml"], environment: environment, in: folder)
        #expect(check.status == 0, "\(name): hookstream check: \(check.stdout)\(check.stderr)")

        let lines = try String(contentsOf: folder.appendingPathComponent("route.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init).filter { !$0.allSatisfy(\.isWhitespace) }
        #expect(!lines.isEmpty, "\(name)/route.txt names no sample")
        for line in lines {
            let halves = line.components(separatedBy: " => ")
            try #require(halves.count == 2, "\(name)/route.txt: '\(line)' is not '<arguments> => <topics>'")
            let arguments = try Self.splitArguments(halves[0])
            let expected = halves[1].split(separator: " ").map(String.init)
            let route = try await Self.hookstream(["route", "--config", "hookstream.yaml"] + arguments + ["--json"], environment: environment, in: folder)
            #expect(route.status == 0, "\(name): hookstream route \(halves[0]) published nothing: \(route.stdout)\(route.stderr)")
            #expect(Self.topics(in: route.stdout) == expected, "\(name): hookstream route \(halves[0]): \(route.stdout)")
        }
    }

    /// Runs the binary to its end in `directory`.
    static func hookstream(_ arguments: [String], environment: [String: String], in directory: URL) async throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try ChildProcess(TestEnvironment.binary, arguments, environment: environment, directory: directory)
        let status = try await child.waitForExit(timeout: .seconds(30))
        return (status, child.stdout, child.stderr)
    }

    /// The `topic` of each event in `hookstream route --json` output, in order; `nil` for output that is not that.
    static func topics(in output: String) -> [String]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
            let events = object["events"] as? [[String: Any]]
        else { return nil }
        return events.map { $0["topic"] as? String ?? "?" }
    }

    /// Splits a command line on spaces as a shell does for plain words and single- or double-quoted ones
    /// (quotes taken literally, no escapes or expansions): `--header 'X-GitHub-Event: push'` is two arguments.
    static func splitArguments(_ line: String) throws -> [String] {
        var arguments: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        for character in line {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character.isWhitespace {
                if inWord { arguments.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if quote != nil { throw HarnessError("unterminated quote in: \(line)") }
        if inWord { arguments.append(current) }
        return arguments
    }
}
