/// A config file that cannot be used, with every problem found in it.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]

    public init(diagnostics: [ConfigDiagnostic]) { self.diagnostics = diagnostics }

    /// One `FILE:LINE:COLUMN: error: message` line per problem.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
