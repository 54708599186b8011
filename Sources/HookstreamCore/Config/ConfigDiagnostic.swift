/// One problem in a config file, at a position: an error, which refuses the file, or a warning, which is told and
/// does not.
public struct ConfigDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    public var file: String
    /// 1-based.
    public var line: Int
    /// 1-based, in Unicode scalars.
    public var column: Int
    public var message: String
    public var severity: Severity

    public init(file: String, line: Int, column: Int, message: String, severity: Severity = .error) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.severity = severity
    }

    /// `FILE:LINE:COLUMN: error: message` (or `warning:`), the form compilers use, so editors can jump to it.
    public var description: String { "\(file):\(line):\(column): \(severity.rawValue): \(message)" }
}
