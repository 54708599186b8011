import ArgumentParser
import HookstreamCore

/// `hookstream check`: validates a config file without starting anything.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file; print every error as FILE:LINE:COLUMN: error: message."
    )

    @Option(name: .long, help: "The config file.")
    var config: String = "config/hookstream.yaml"

    func run() throws {
        do {
            let loaded = try ConfigLoader.load(path: config)
            print("\(config): ok (\(loaded.sources.count) sources, \(loaded.rules.count) rules, \(loaded.tokens.count) tokens)")
        } catch {
            printToStandardError(error.description)
            throw ExitCode(ExitCodes.configuration)
        }
    }
}
