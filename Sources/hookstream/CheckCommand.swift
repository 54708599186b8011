import ArgumentParser
import HookstreamCore
import HookstreamServer

/// `hookstream check`: validates a config file without starting anything, as far as `serve` would: the file, then
/// the JWT keys and TLS certificate it names, put in use as a start would.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file; print every error as FILE:LINE:COLUMN: error: message (and warning: for what works but should not)."
    )

    @Option(name: .long, help: "The config file.")
    var config: String = "config/hookstream.yaml"

    func run() async throws {
        let loaded: Configuration
        do {
            loaded = try ConfigLoader.load(path: config)
        } catch {
            printToStandardError(error.description)
            throw ExitCode(ExitCodes.configuration)
        }
        do {
            try await Hookstream.validate(loaded)
        } catch {
            printToStandardError("\(config): error: \(error)")
            throw ExitCode(ExitCodes.configuration)
        }
        for warning in loaded.warnings { printToStandardError(warning.description) }
        let counts = [(loaded.sources.count, "source"), (loaded.rules.count, "rule"), (loaded.tokens.count, "token")]
        print("\(config): ok (\(counts.map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")" }.joined(separator: ", ")))")
    }
}
