/// A configuration that reads as valid but cannot be put in force: JWT keys jwt-kit refuses, a certificate and key
/// the TLS library cannot use. `check` reports it, `serve` refuses to start with it, and a reload keeps the running
/// configuration.
public struct SettingsError: Error, Sendable, CustomStringConvertible {
    /// Which part of the configuration, and why (the library's own reason).
    public var message: String

    init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
