import HookstreamCore
import NIOConcurrencyHelpers
import NIOCore

/// The subscribers of one event loop, and the queue through which the broker reaches them.
///
/// Publishing appends to a small lock-guarded queue and schedules at most one drain on the loop; a drain
/// writes every queued event to each subscriber and flushes once per subscriber, so under load one `writev`
/// carries many events. The subscriber array is touched only on the loop.
final class StreamHub: EventSink, @unchecked Sendable {
    let eventLoop: any EventLoop
    private let lock = NIOLock()
    private var pending: [EncodedEvent] = []  // guarded by lock
    private var isDrainScheduled = false  // guarded by lock
    private var batch: [EncodedEvent] = []  // on loop
    private var subscribers: [StreamSubscriber] = []  // on loop
    private var heartbeatTask: RepeatedTask?  // on loop
    private var isShutDown = false  // on loop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    var count: Int {
        eventLoop.assertInEventLoop()
        return subscribers.count
    }

    func enqueue(_ events: [EncodedEvent]) {
        let mustSchedule: Bool = lock.withLock {
            pending.append(contentsOf: events)
            if isDrainScheduled { return false }
            isDrainScheduled = true
            return true
        }
        if mustSchedule {
            eventLoop.execute { self.drain() }
        }
    }

    private func drain() {
        lock.withLock {
            swap(&pending, &batch)
            isDrainScheduled = false
        }
        for subscriber in subscribers {
            subscriber.deliver(batch)
        }
        batch.removeAll(keepingCapacity: true)
    }

    /// Adds a subscriber (on the loop). Returns `false` when the hub has shut down.
    func add(_ subscriber: StreamSubscriber) -> Bool {
        eventLoop.assertInEventLoop()
        guard !isShutDown else { return false }
        subscriber.slot = subscribers.count
        subscribers.append(subscriber)
        return true
    }

    /// Removes a subscriber (on the loop), in O(1).
    func remove(_ subscriber: StreamSubscriber) {
        eventLoop.assertInEventLoop()
        let i = subscriber.slot
        guard i >= 0, i < subscribers.count, subscribers[i] === subscriber else { return }
        let last = subscribers.removeLast()
        if i < subscribers.count {
            subscribers[i] = last
            last.slot = i
        }
        subscriber.slot = -1
    }

    /// Starts the heartbeat: one shared comment chunk written to every subscriber of the loop each period.
    func startHeartbeat(every period: Duration) {
        let chunk = StreamFraming.commentChunk("heartbeat")
        let interval = TimeAmount.nanoseconds(Int64(period.components.seconds) * 1_000_000_000 + period.components.attoseconds / 1_000_000_000)
        eventLoop.execute {
            self.heartbeatTask = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                for subscriber in self.subscribers { subscriber.writeHeartbeat(chunk) }
            }
        }
    }

    /// Ends every stream of this loop and refuses new ones.
    func shutdown() -> EventLoopFuture<Void> {
        eventLoop.submit {
            self.isShutDown = true
            self.heartbeatTask?.cancel()
            self.heartbeatTask = nil
            let all = self.subscribers
            self.subscribers.removeAll()
            for subscriber in all {
                subscriber.slot = -1
                subscriber.finish()
            }
        }
    }
}
