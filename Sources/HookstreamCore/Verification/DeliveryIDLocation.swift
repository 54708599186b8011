/// Where a webhook carries the id of its delivery, which a provider's redelivery repeats.
public enum DeliveryIDLocation: Sendable, Hashable, CustomStringConvertible {
    /// A request header (lower-case name).
    case header(String)
    /// A value in the message, such as `body.id`.
    case path(ValuePath)

    public var description: String {
        switch self {
        case .header(let name): "header \(name)"
        case .path(let path): "\(path)"
        }
    }
}
