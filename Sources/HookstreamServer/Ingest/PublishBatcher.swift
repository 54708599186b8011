import HookstreamCore
import NIOCore

/// Gathers the publishes one event loop makes in one turn (every request it read from every connection) and hands
/// them to the broker together at the end of that turn: one store transaction and one fan-out drain for all.
///
/// Without it, under load each request went on its own to the store's writer thread, which took them one or two
/// at a time, and subscribers got a write per small group. Touched only on its loop.
final class PublishBatcher: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let broker: Broker
    private var batches: [EventBatch] = []  // on loop
    private var completions: [@Sendable (Result<[Event], any Error>) -> Void] = []  // on loop

    init(eventLoop: any EventLoop, broker: Broker) {
        self.eventLoop = eventLoop
        self.broker = broker
    }

    /// Queues `batch` for the end of this loop turn; `completion` gets its events numbered once stored. Calls are
    /// numbered in the order they are made.
    func publish(_ batch: EventBatch, completion: @escaping @Sendable (Result<[Event], any Error>) -> Void) {
        eventLoop.assertInEventLoop()
        guard !batch.drafts.isEmpty else { return completion(.success([])) }
        // Tasks run after the loop has handled every socket that was ready, so the flush takes all of them.
        if batches.isEmpty { eventLoop.execute { self.flush() } }
        batches.append(batch)
        completions.append(completion)
    }

    private func flush() {
        let batches = self.batches
        let completions = self.completions
        self.batches.removeAll(keepingCapacity: true)
        self.completions.removeAll(keepingCapacity: true)
        broker.publish(batches: batches) { result in
            switch result {
            case .success(let numbered):
                for (completion, events) in zip(completions, numbered) { completion(.success(events)) }
            case .failure(let error):
                for completion in completions { completion(.failure(error)) }
            }
        }
    }
}
