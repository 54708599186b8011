/// Why a JSON document could not be parsed, and at which byte.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// Byte offset into the document.
    public var offset: Int
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}
