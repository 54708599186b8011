/// A static token from `auth.tokens`: a secret and the topics it may subscribe to.
public struct AccessToken: Sendable {
    /// A name for logs; never the secret.
    public var name: String
    public var secret: String
    public var subscribe: TopicFilter
    public var publish: TopicFilter

    public init(name: String, secret: String, subscribe: TopicFilter, publish: TopicFilter = TopicFilter([])) {
        self.name = name
        self.secret = secret
        self.subscribe = subscribe
        self.publish = publish
    }
}

extension AccessToken: CustomStringConvertible {
    /// Its name and topics, never its secret: a token that ends up interpolated in a log line stays a name.
    public var description: String { "AccessToken(name: \(name), secret: <hidden>, subscribe: \(subscribe), publish: \(publish))" }
}
