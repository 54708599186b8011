extension Event {
    /// What the event counts for against a page's byte budget (``EventStore/events(after:matching:limit:maxBytes:)``):
    /// its text, topic and type, and a little for its framing.
    public var pageBytes: Int { data.text.utf8.count + topic.utf8.count + type.utf8.count + 32 }
}

extension Array where Element == Event {
    /// The events up to and including the one at which the total of their ``Event/pageBytes`` reaches `maxBytes`.
    package func prefix(bytes maxBytes: Int) -> [Event] {
        var total = 0
        for (index, event) in enumerated() {
            total += event.pageBytes
            if total >= maxBytes { return Array(self[...index]) }
        }
        return self
    }

    /// The total of the events' ``Event/pageBytes``.
    public var pageBytes: Int { reduce(0) { $0 + $1.pageBytes } }
}
