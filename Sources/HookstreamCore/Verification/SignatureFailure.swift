/// Why a webhook's signature was not accepted: a message safe to send back and to log, which never holds the
/// secret or the signature that was expected.
public struct SignatureFailure: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
