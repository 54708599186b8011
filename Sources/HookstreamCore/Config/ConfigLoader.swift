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
            throw ConfigError(diagnostics: [.init(file: path, line: 1, column: 1, message: "cannot read the config file: \(error.localizedDescription)")])
        }
        return try parse(text, file: path, environment: environment)
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
        return config
    }

    static func diagnostic(for error: YamlError, file: String) -> ConfigDiagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "YAML syntax: \(problem)"
            if let context { message += " (\(context.text) at \(context.mark.line):\(context.mark.column))" }
            return .init(file: file, line: mark.line, column: mark.column, message: message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return .init(
                file: file, line: context.mark.line, column: context.mark.column,
                message: "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in a mapping")
        default:
            return .init(file: file, line: 1, column: 1, message: "YAML: \(error)")
        }
    }
}
