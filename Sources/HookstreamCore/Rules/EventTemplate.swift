/// One event a rule publishes: its topic, type and data, each rendered from the message.
public struct EventTemplate: Sendable {
    public var topic: Template
    /// The SSE `event:` field; `message` unless the rule says otherwise.
    public var type: Template
    public var data: DataTemplate

    public init(topic: Template, type: Template, data: DataTemplate) {
        self.topic = topic
        self.type = type
        self.data = data
    }

    /// The paths the templates read.
    var paths: [ValuePath] { topic.paths + type.paths + data.paths }
}
