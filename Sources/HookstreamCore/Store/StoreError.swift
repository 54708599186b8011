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

    /// What a sender whose events were refused by this error is told: whether they may have been stored, and
    /// whether a retry is safe. The same words over HTTP and the Unix socket.
    public var senderMessage: String {
        kind == .unconfirmed ? StoreError.unconfirmedSenderMessage : StoreError.refusedSenderMessage
    }

    /// For a write sent and not confirmed (``Kind/unconfirmed``): a sender told "not stored" would publish it twice.
    public static let unconfirmedSenderMessage =
        "the event store lost its database while storing this; it may have been stored and delivered: a retry may publish it twice, unless it has a delivery id (dedupe) that the store checks"

    /// For any other failure: nothing of the batch was stored.
    public static let refusedSenderMessage = "the event store cannot accept events right now; retry later"
}
