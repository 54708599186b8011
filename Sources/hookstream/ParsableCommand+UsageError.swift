import ArgumentParser

extension ParsableCommand {
    /// A usage error found by `run()`, after the arguments were parsed (a body file that cannot be read, a token
    /// variable that is not set), said as ArgumentParser says one found while parsing: with this command's own usage,
    /// and exit status 64. A `ValidationError` thrown from `run()` is said with the top command's usage instead
    /// (`hookstream <subcommand>`).
    static func usageError(_ message: String) -> ExitCode {
        let name = configuration.commandName ?? ""
        printToStandardError(
            "Error: \(message)\nUsage: \(HookstreamCommand.usageString(for: Self.self))\n  See 'hookstream \(name) --help' for more information.")
        return .validationFailure
    }
}
