import HookstreamCore
import NIOCore

/// One ``StreamHub`` per event loop of the HTTP server.
final class StreamHubs: Sendable {
    let all: [StreamHub]

    /// - Parameter releasedThrough: the broker's last released event (nothing is published before the hubs are added).
    init(group: any EventLoopGroup, metrics: ServerMetrics, releasedThrough: EventID) {
        var hubs: [StreamHub] = []
        for loop in group.makeIterator() { hubs.append(StreamHub(eventLoop: loop, metrics: metrics, releasedThrough: releasedThrough)) }
        self.all = hubs
    }

    /// The hub of `loop`.
    func hub(for loop: any EventLoop) -> StreamHub {
        for hub in all where hub.eventLoop === loop { return hub }
        preconditionFailure("event loop \(loop) is not part of the HTTP server's group")
    }

    /// Ends every stream, each after a `retry:` spread over `drain`.
    func shutdown(drain: Duration) async {
        for hub in all { try? await hub.shutdown(drain: drain).get() }
    }
}
