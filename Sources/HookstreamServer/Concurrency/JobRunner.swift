import ServiceLifecycle

/// Runs async work started from event-loop code (webhook publishes, stream replays) as child tasks of one
/// service, so that every task is structured and graceful shutdown waits for what is in flight.
public final class JobRunner: Service, Sendable {
    public typealias Job = @Sendable () async -> Void
    private let jobs: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation

    public init() {
        (jobs, continuation) = AsyncStream.makeStream(of: Job.self)
    }

    /// Queues `job`; `false` once the runner is shutting down (the job will not run).
    @discardableResult
    public func submit(_ job: @escaping Job) -> Bool {
        if case .enqueued = continuation.yield(job) { return true }
        return false
    }

    public func run() async {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await job in jobs {
                    group.addTask { await job() }
                }
            } onGracefulShutdown: {
                // Jobs already queued still run; new ones are refused.
                self.continuation.finish()
            }
        }
    }
}
