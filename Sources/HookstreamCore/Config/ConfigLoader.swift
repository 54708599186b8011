import Yams
import Foundation

/// Reads a YAML config file into a ``Configuration``, reporting every problem as `FILE:LINE:COLUMN: error: ...`.
///
/// ```swift
/// do {
///     let config = try ConfigLoader.load(path: "config/hookstream.yaml")
/// } catch {
///     print(error)   // one line per problem
/// }
/// ```
public enum ConfigLoader {
    /// Loads and validates the file at `path`.
    /// - Parameter environment: where `secret: { env: NAME }` is looked up.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> Configuration {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw ConfigError(diagnostics: [.init(file: path, line: 1, column: 1, message: "the file is not UTF-8 text")])
            }
            text = decoded
        } catch let error as ConfigError {
            throw error
        } catch {
            // Foundation's own message for a folder is "The operation could not be completed" with an error number.
            var isDirectory: ObjCBool = false
            let problem =
                FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
                ? "it is a folder; name the config file in it (like \((path as NSString).appendingPathComponent("hookstream.yaml")))"
                : ConfigLoader.readProblem(error)
            throw ConfigError(diagnostics: [.init(file: path, line: 1, column: 1, message: "cannot read the config file: \(problem)")])
        }
        return try parse(text, file: path, environment: environment)
    }

    /// Why a file could not be read, in words a user acts on (Foundation's own begin "The operation could not be
    /// completed").
    static func readProblem(_ error: any Error) -> String {
        switch (error as? CocoaError)?.code {
        case .fileReadNoSuchFile?, .fileNoSuchFile?: "no such file"
        case .fileReadNoPermission?: "permission denied (the user running hookstream must be able to read it)"
        default: error.localizedDescription
        }
    }

    /// Validates YAML text; `file` names it in messages and anchors relative secret files.
    public static func parse(_ text: String, file: String, environment: [String: String] = [:]) throws(ConfigError) -> Configuration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigError(diagnostics: [diagnostic(for: error, file: file)])
        } catch {
            throw ConfigError(diagnostics: [.init(file: file, line: 1, column: 1, message: "\(error)")])
        }
        let reader = ConfigReader(file: file)
        var config = Configuration()
        config.file = file
        if let root {
            ConfigSchema(reader: reader, environment: environment, configDirectory: (file as NSString).deletingLastPathComponent)
                .read(root, into: &config)
        } else {
            reader.error(at: nil as Node?, "the config file is empty")
        }
        if !reader.diagnostics.isEmpty {
            throw ConfigError(diagnostics: reader.diagnostics)
        }
        config.warnings = reader.warnings
        return config
    }

    static func diagnostic(for error: YamlError, file: String) -> ConfigDiagnostic {
        switch error {
        case .scanner(_, let problem, let mark, let yaml) where isTab(atLine: mark.line, column: mark.column, in: yaml):
            // libyaml's words for it ("found character that cannot start any token") do not say which character.
            return .init(file: file, line: mark.line, column: mark.column, message: "YAML syntax: a tab, where YAML allows spaces only: indent with spaces (\(problem))")
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "YAML syntax: \(problem)"
            if let context { message += " (\(context.text) at \(context.mark.line):\(context.mark.column))" }
            return .init(file: file, line: mark.line, column: mark.column, message: message)
        case .reader(let problem, let offset, _, let yaml):
            // Yams' own description of a reader error quotes the whole offending line, which may be a secret's: only
            // the problem and its position are reported.
            let (line, column) = offset.map { position(ofCharacter: $0, in: yaml) } ?? (1, 1)
            return .init(file: file, line: line, column: column, message: "YAML: \(problem) (a config file is printable UTF-8 text)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return .init(
                file: file, line: context.mark.line, column: context.mark.column,
                // YAML's parser marks the first of the keys only; the message says the repeat is further down.
                message: "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in a mapping: it is here, and again further down in the same mapping; keep one")
        default:
            return .init(file: file, line: 1, column: 1, message: "YAML: \(error)")
        }
    }

    /// Whether the character at the 1-based `line` and `column` of `text` is a tab.
    static func isTab(atLine line: Int, column: Int, in text: String) -> Bool {
        guard line >= 1, column >= 1 else { return false }
        var lines = text.split(separator: "\n", maxSplits: line, omittingEmptySubsequences: false).dropFirst(line - 1).makeIterator()
        guard let found = lines.next() else { return false }
        return found.unicodeScalars.dropFirst(column - 1).first == "\t"
    }

    /// The 1-based line and column of the `offset`th character of `text` (past its end: the end's position).
    static func position(ofCharacter offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for character in text.prefix(max(0, offset)) {
            if character.isNewline {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}
