public import Logging

/// Fixed 128-bit ids for the log lines an operator searches for (`journalctl MESSAGE_ID=...`), carried in the
/// metadata key ``LogMessageID/metadataKey`` and written by the journal handler as the `MESSAGE_ID=` field.
public enum LogMessageID {
    /// The metadata key that holds a message id.
    public static let metadataKey = "hookstream.message_id"

    /// The daemon started serving.
    public static let started = "5780baed8803483188fcf81e633bc8a1"
    /// A config file was reloaded and put in force.
    public static let reloaded = "c2aa91775a8e4c6a869268badf6d5746"
    /// A config file was rejected; the running configuration stays.
    public static let configRejected = "f1d5b45a295a4f4199f7f92727eded53"
    /// A subscriber fell too far behind and was cut.
    public static let subscriberCut = "ba97c4678da241a0a1f0fdf00982fac0"
    /// The event store could not be opened or written.
    public static let storeUnavailable = "bd18287870f54ab5908eb5347fd87447"

    /// Metadata carrying `id`.
    public static func metadata(_ id: String) -> Logger.Metadata { [metadataKey: .string(id)] }
}
