/// Counts refusals of one kind and says when to log them: at most once per ``interval``, with how many there were
/// since the last line, so that a flood of refusals does not flood the journal too. Not synchronized: its owner
/// keeps it under its own lock.
struct RefusalLog {
    /// Nanoseconds between two log lines.
    static let interval: UInt64 = 10_000_000_000

    private var sinceLog = 0
    private var loggedAt: UInt64?

    /// Counts a refusal at `now` (monotonic nanoseconds); returns the count to log now, if it is time to.
    mutating func count(now: UInt64) -> Int? {
        sinceLog += 1
        guard loggedAt.map({ now > $0 && now - $0 >= RefusalLog.interval }) ?? true else { return nil }
        defer { sinceLog = 0 }
        loggedAt = now
        return sinceLog
    }
}
