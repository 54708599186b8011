/// Where events live: numbered on append, read back for resuming subscribers, pruned by retention.
///
/// Implementations: ``MemoryEventStore`` (no durability). Durable stores (SQLite, PostgreSQL)
/// implement the same contract.
///
/// The contract the ``Broker`` relies on:
/// - ``append(batches:completion:)`` numbers the drafts of one call with consecutive ids (batch after batch), each
///   greater than every id handed out before by this store (across restarts for durable stores), calls in the
///   order they are made, and completes only once they are stored (durably, for durable stores). Appends that
///   fail consume no ids.
/// - ``events(after:matching:limit:)`` sees every event whose `append` has returned.
/// - A batch's delivery is stored with its events, all or nothing, and ``delivery(_:since:)`` finds it once the
///   append has returned.
public protocol EventStore: Sendable {
    /// Stores several batches together (a durable store commits them in one transaction); `completion` gets each
    /// batch numbered, in the order given, once all are stored. They succeed or fail together.
    ///
    /// Calls are numbered in the order they are made, so a caller that must keep an order (pipelined requests
    /// on one connection) calls in that order and need not wait in between.
    func append(batches: [EventBatch], completion: @escaping @Sendable (Result<[[Event]], any Error>) -> Void)

    /// The delivery stored for `key` at or after `since` (ms since the epoch), if any.
    func delivery(_ key: DeliveryKey, since: Int64) async throws -> DeliveryRecord?

    /// Events with an id greater than `id` on topics matched by `filter`, in id order: at most `limit`, and none after
    /// the one at which the total of their ``Event/pageBytes`` reaches `maxBytes` (so that a page of large events
    /// costs about `maxBytes` of memory, however many there are). A page with fewer than `limit` events whose total
    /// is under `maxBytes` holds every such event there is.
    func events(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> [Event]

    /// The highest id handed out so far, `0` if none.
    func lastEventID() async throws -> EventID

    /// The highest id that retention removed from topics matched by `filter`, `0` if none: a client resuming
    /// from below it has missed events that are gone.
    func prunedThrough(matching filter: TopicFilter) async throws -> EventID

    /// ``events(after:matching:limit:maxBytes:)`` with ``prunedThrough(matching:)`` read at the same moment: a mark
    /// above `id` then means that events after `id` were gone when the page was read, and a replay tells its client
    /// (`hookstream.reset`) exactly when it missed some.
    func page(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> ReplayPage

    /// Removes what `retention` no longer keeps, as of `now` (ms since the epoch); returns how many events went.
    @discardableResult
    func applyRetention(_ retention: Retention, now: Int64) async throws -> Int

    /// Answers once the store can serve a read: a health probe (the watchdog's). A hung store never answers.
    func probe() async throws

    /// Whether the store works as it should, takes events while something is wrong, or refuses them; read without
    /// waiting for the store's work (a readiness probe asks it).
    var condition: StoreCondition { get }

    /// Releases the store's resources; no call may follow.
    func close() async throws
}

extension EventStore {
    public func close() async throws {}

    /// Events with an id greater than `id` on topics matched by `filter`, in id order, at most `limit`, whatever
    /// their size.
    public func events(after id: EventID, matching filter: TopicFilter, limit: Int) async throws -> [Event] {
        try await events(after: id, matching: filter, limit: limit, maxBytes: .max)
    }

    public func probe() async throws { _ = try await lastEventID() }

    public var condition: StoreCondition { .healthy }

    /// The page, then the mark: for a store that cannot read both at one moment. A delete between the two is seen (a
    /// reset is never missed), though it may have taken only events the page already holds (a reset for nothing).
    public func page(after id: EventID, matching filter: TopicFilter, limit: Int, maxBytes: Int) async throws -> ReplayPage {
        let events = try await events(after: id, matching: filter, limit: limit, maxBytes: maxBytes)
        return ReplayPage(events: events, prunedThrough: try await prunedThrough(matching: filter))
    }

    /// Stores several batches of drafts together, remembering no delivery.
    public func append(batches: [[EventDraft]], completion: @escaping @Sendable (Result<[[Event]], any Error>) -> Void) {
        append(batches: batches.map { EventBatch($0) }, completion: completion)
    }

    /// Stores the drafts as one batch; `completion` gets them numbered, in order, once they are stored.
    public func append(_ drafts: [EventDraft], completion: @escaping @Sendable (Result<[Event], any Error>) -> Void) {
        append(batches: [EventBatch(drafts)]) { result in completion(result.map { $0[0] }) }
    }

    /// Stores the drafts as one batch and returns them numbered, in order.
    public func append(_ drafts: [EventDraft]) async throws -> [Event] {
        try await withCheckedThrowingContinuation { continuation in
            append(drafts) { continuation.resume(with: $0) }
        }
    }
}
