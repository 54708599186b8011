import HookstreamCore

/// The subscribers of one hub that asked for the same topics: a drain matches each event against the group's
/// filter once, and hands every member the same bytes.
final class SubscriberGroup {
    let filter: TopicFilter
    /// Touched only on the hub's loop.
    var members: [StreamSubscriber] = []

    init(filter: TopicFilter) {
        self.filter = filter
    }
}
