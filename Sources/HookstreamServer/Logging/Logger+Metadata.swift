public import Logging

extension Logger {
    /// A copy of this logger with one more metadata value, for per-request and per-source child loggers.
    public func with(metadataKey key: String, _ value: Logger.MetadataValue) -> Logger {
        var copy = self
        copy[metadataKey: key] = value
        return copy
    }
}
