import HookstreamCore

/// The replay-then-live hand-off of one subscriber, as a plain state machine (no I/O), so it can be tested alone.
///
/// The subscriber is registered with its hub *before* the store is read. From then on every new event
/// reaches it live; while the replay runs, those are buffered. When a store read comes back short (caught up),
/// the buffer is flushed minus what the replay already sent, and the subscriber goes live. Ids are strictly
/// increasing on both paths, so "id > last delivered" removes every duplicate, and nothing can fall in between.
/// If the buffer overflows during a long replay it is dropped and the store is read again: the store has them.
struct SubscriptionState {
    enum Phase {
        case replaying(buffer: [EncodedEvent], overflowed: Bool)
        case live
    }

    private(set) var phase: Phase
    /// The id of the last event handed to the client (or the client's `Last-Event-ID`).
    private(set) var lastDeliveredID: EventID
    let bufferLimit: Int

    /// A subscriber that resumes after `lastEventID` starts replaying; one without starts live.
    init(resumingAfter lastEventID: EventID?, bufferLimit: Int) {
        self.lastDeliveredID = lastEventID ?? 0
        self.phase = lastEventID == nil ? .live : .replaying(buffer: [], overflowed: false)
        self.bufferLimit = bufferLimit
    }

    var isLive: Bool {
        if case .live = phase { return true }
        return false
    }

    /// A live event from the hub (already filtered by topic): `true` when it must be written now.
    mutating func offerLive(_ event: EncodedEvent) -> Bool {
        switch phase {
        case .live:
            guard event.id > lastDeliveredID else { return false }
            lastDeliveredID = event.id
            return true
        case .replaying(var buffer, let overflowed):
            guard !overflowed else { return false }
            if buffer.count >= bufferLimit {
                phase = .replaying(buffer: [], overflowed: true)
                return false
            }
            phase = .replaying(buffer: [], overflowed: false)  // release the array's storage before appending
            buffer.append(event)
            phase = .replaying(buffer: buffer, overflowed: false)
            return false
        }
    }

    /// Records that a live batch up to `id` was written (the caller checked it is newer than what was delivered).
    mutating func markDelivered(through id: EventID) {
        assert(isLive && id > lastDeliveredID)  // checked by the caller, on the per-subscriber path
        lastDeliveredID = id
    }

    /// A live stream's starting point, told to its client in the greeting (every event it gets live is later): its
    /// resume point until its first event, as the logs of its end say.
    mutating func start(after id: EventID) {
        assert(isLive)
        lastDeliveredID = max(lastDeliveredID, id)
    }

    /// Lowers the resume point, for a client whose id is beyond anything this store has handed out
    /// (the store was replaced): it then gets every event from now on rather than none.
    /// - Returns: whether it was lowered.
    @discardableResult
    mutating func clampResumePoint(toAtMost lastStoredID: EventID) -> Bool {
        guard lastDeliveredID > lastStoredID else { return false }
        lastDeliveredID = lastStoredID
        return true
    }

    /// Events read from the store during replay: returns those to write (newer than what was delivered).
    mutating func replayed(_ events: [Event]) -> [Event] {
        let fresh = events.filter { $0.id > lastDeliveredID }
        if let last = fresh.last { lastDeliveredID = last.id }
        return fresh
    }

    /// Called when a store read came back short. Returns the buffered events to write and goes live, or `nil`
    /// when live events were dropped while buffering, so the store must be read again from ``lastDeliveredID``.
    mutating func finishReplay() -> [EncodedEvent]? {
        guard case .replaying(let buffer, let overflowed) = phase else { return [] }
        if overflowed {
            phase = .replaying(buffer: [], overflowed: false)
            return nil
        }
        let fresh = buffer.filter { $0.id > lastDeliveredID }
        if let last = fresh.last { lastDeliveredID = last.id }
        phase = .live
        return fresh
    }
}
