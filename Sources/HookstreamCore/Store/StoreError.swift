/// A store that cannot do what was asked: a message a user (or an operator reading the log) can act on.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The store cannot be used as configured (a missing or unwritable folder), or is closed.
        case unavailable
        /// Another process has the store open: two writers would number the same ids and empty each other's log.
        case inUse
        /// Opening the store failed on the way (a full disk, an I/O error, a damaged file): trying again later may
        /// succeed.
        case openFailed
        /// Writing failed (disk full, read-only file system, locked); nothing of the batch was stored.
        case writeFailed
        /// The write was sent and not confirmed (a database server's connection lost while it committed): it may have
        /// been stored, and its events delivered, all the same.
        case unconfirmed
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
