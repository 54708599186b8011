import NIOConcurrencyHelpers

/// Bytes of replay pages held at once across every resuming stream, from the page's read until it has reached the
/// socket (`server.limits.replay_bytes`).
///
/// A replay holds at most two pages of about 2 MiB (one being written, the next read), but nothing else bounds how
/// many replays run at once: a thousand streams that resume from far back and read nothing would hold gigabytes.
/// With the budget spent, a replay waits, holding no page, until others have written theirs (or were cut for not
/// reading, after a heartbeat period): the memory stays bounded, and a resume is slower, never refused. A replay
/// reads ahead only while the budget has room, so one that waits holds nothing, and those that hold pages are
/// writing them: no replay waits on another that waits.
final class ReplayBudget: Sendable {
    private struct Waiter {
        var bytes: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        /// The limit the last reservation was made under (a reload may change it).
        var limit = Int.max
        var held = 0
        var waiters: [Waiter] = []
    }

    private let state = NIOLockedValueBox(State())

    /// Takes `bytes` out of a budget of `limit` (at most `limit`: a page larger than the whole budget goes alone),
    /// waiting until they fit behind the replays that asked before.
    /// - Returns: the bytes taken, to be given back with ``release(_:)``.
    func reserve(_ bytes: Int, limit: Int) async -> Int {
        if let taken = tryReserve(bytes, limit: limit) { return taken }
        let bytes = min(bytes, limit)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = state.withLockedValue { state in
                // Released meanwhile: taken at once, if nobody is ahead.
                if ReplayBudget.takeIfFree(bytes, from: &state) { return true }
                state.waiters.append(Waiter(bytes: bytes, continuation: continuation))
                return false
            }
            if resumeNow { continuation.resume() }
        }
        return bytes
    }

    /// Takes `bytes` (at most `limit`) if they fit now and nobody waits: the bytes taken, or `nil` with nothing taken.
    func tryReserve(_ bytes: Int, limit: Int) -> Int? {
        state.withLockedValue { state in
            state.limit = limit
            let bytes = min(bytes, limit)
            return ReplayBudget.takeIfFree(bytes, from: &state) ? bytes : nil
        }
    }

    /// Takes `bytes` if nobody waits and they fit under the limit.
    private static func takeIfFree(_ bytes: Int, from state: inout State) -> Bool {
        guard state.waiters.isEmpty, state.held + bytes <= state.limit else { return false }
        state.held += bytes
        return true
    }

    /// Takes `bytes` beyond the budget if need be: a page that came out larger than what was reserved for it is
    /// already in memory.
    func take(_ bytes: Int) {
        guard bytes > 0 else { return }
        state.withLockedValue { $0.held += bytes }
    }

    /// Gives back `bytes`, and lets in the replays waiting in turn that now fit.
    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        let ready: [CheckedContinuation<Void, Never>] = state.withLockedValue { state in
            state.held -= bytes
            var ready: [CheckedContinuation<Void, Never>] = []
            while let first = state.waiters.first, state.held + first.bytes <= state.limit || state.held == 0 {
                state.held += first.bytes
                ready.append(first.continuation)
                state.waiters.removeFirst()
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Bytes held now, and replays waiting.
    var usage: (held: Int, waiting: Int) {
        state.withLockedValue { ($0.held, $0.waiters.count) }
    }
}
