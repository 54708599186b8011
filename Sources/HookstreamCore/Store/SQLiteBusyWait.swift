import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How ``SQLiteAppendConnection`` waits for a lock that another connection holds (an operator's `sqlite3` shell, a
/// backup): up to five seconds, as SQLite's own busy timeout did, unless the store is closing.
///
/// SQLite's busy timeout cannot be cut short from another thread, and a store that closes while a lock holds its
/// writer must not wait it out: the daemon's stop has about two seconds in all, and past them swift-service-lifecycle
/// ends the process with a crash. Once ``giveUp()`` is called, a wait in progress ends within one poll (5 ms) and a
/// later one does not start; what was not applied stays in the append log for the next start.
final class SQLiteBusyWait: Sendable {
    private let isGivenUp = Atomic<Bool>(false)
    private let busyAnswers = Atomic<Int>(0)
    /// Polls of ``pollMilliseconds`` before SQLite's `SQLITE_BUSY` is passed on.
    private let polls: Int32

    static let pollMilliseconds: Int32 = 5

    init(limitMilliseconds: Int32 = 5_000) {
        polls = max(1, limitMilliseconds / Self.pollMilliseconds)
    }

    /// Ends the waits: from now on a busy database is an error at once. Safe from any thread.
    func giveUp() {
        isGivenUp.store(true, ordering: .relaxed)
    }

    /// How many times SQLite has found the database locked (tests wait for a wait with it).
    var busyAnswersSoFar: Int { busyAnswers.load(ordering: .relaxed) }

    /// Whether SQLite should try again after its `attempt`-th busy answer (from 0); sleeps one poll first.
    func retries(after attempt: Int32) -> Bool {
        busyAnswers.add(1, ordering: .relaxed)
        guard attempt < polls, !isGivenUp.load(ordering: .relaxed) else { return false }
        usleep(UInt32(Self.pollMilliseconds) * 1_000)
        return !isGivenUp.load(ordering: .relaxed)
    }
}
