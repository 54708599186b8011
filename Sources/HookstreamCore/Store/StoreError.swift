/// A store that cannot do what was asked: a message a user (or an operator reading the log) can act on.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The store cannot be opened at all (a missing or unwritable folder, a corrupt file).
        case unavailable
        /// Writing failed (disk full, read-only file system, locked); nothing of the batch was stored.
        case writeFailed
        /// Reading failed.
        case readFailed
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
