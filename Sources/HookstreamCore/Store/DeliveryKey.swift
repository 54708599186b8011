/// A webhook delivery: its source and the id the provider gave it (`X-GitHub-Delivery`, `webhook-id`, ...).
public struct DeliveryKey: Sendable, Hashable, CustomStringConvertible {
    public var source: String
    public var id: String

    public init(source: String, id: String) {
        self.source = source
        self.id = id
    }

    public var description: String { "\(source)/\(id)" }
}
