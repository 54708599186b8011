/// The set of program positions alive at one position of the text: a sparse set (Briggs and Torczon), so that
/// adding, testing and clearing are constant time and a state reached twice is kept once.
///
/// Keeping each state once is what makes matching linear: however many ways a pattern such as `(a+)+` has of
/// reaching a state, the state is one entry, where a backtracking engine would try each way in turn.
/// `members` doubles as the work queue while the states that a position reaches without consuming are followed
/// (`PikeVM.add`), so following them needs no stack of its own.
struct RegexThreadList {
    /// The states, in the order they were added; only the first `count` are members.
    private(set) var members: [Int32]
    /// For a state `s` that is a member, `members[index[s]] == s`; other entries are stale and harmless.
    private var index: [Int32]
    private(set) var count = 0

    init(capacity: Int) {
        members = [Int32](repeating: 0, count: capacity)
        index = [Int32](repeating: 0, count: capacity)
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    func contains(_ state: Int) -> Bool {
        let slot = Int(index[state])
        return slot < count && Int(members[slot]) == state
    }

    /// Adds `state` unless it is a member; returns whether it was added.
    @inline(__always)
    @discardableResult
    mutating func insert(_ state: Int) -> Bool {
        if contains(state) { return false }
        members[count] = Int32(truncatingIfNeeded: state)
        index[state] = Int32(truncatingIfNeeded: count)
        count += 1
        return true
    }

    @inline(__always)
    subscript(slot: Int) -> Int { Int(members[slot]) }

    mutating func removeAll() { count = 0 }
}
