/// The payload of an event: either text sent as it is, or a JSON value sent as its encoding.
public enum EventData: Sendable, Hashable {
    case text(String)
    /// The compact JSON encoding of a non-string JSON value.
    case json(String)

    /// Builds event data from a JSON value: a string becomes text, anything else its JSON encoding.
    public init(_ value: JSONValue) {
        if case .string(let s) = value {
            self = .text(s)
        } else {
            self = .json(value.jsonText)
        }
    }

    /// The text that goes into the SSE `data:` lines.
    public var text: String {
        switch self {
        case .text(let s), .json(let s): return s
        }
    }

    /// Whether the payload is JSON rather than plain text.
    public var isJSON: Bool {
        if case .json = self { return true }
        return false
    }
}
