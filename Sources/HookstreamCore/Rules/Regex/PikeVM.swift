/// Runs a `RegexProgram` over a text in one pass, advancing every live state together (a Pike VM without
/// captures, as RE2 does for a yes/no answer).
///
/// Each scalar of the text costs at most a visit of each instruction, so a search costs
/// O(instructions × scalars) whatever the pattern: there is no backtracking to explode on `(a+)+$`, and an
/// unanchored `deploy.*failed` does not restart its scan at every position. The search is unanchored by adding the
/// program's first state again at every position, which is the same as a leading `.*?` without its cost.
///
/// The text is read as Unicode scalars through a window of three (the scalar before the position, the one at
/// it, and the next, for `$` before a final newline), so it is neither copied nor indexed.
struct PikeVM {
    private let program: RegexProgram
    /// Instructions visited, for tests that check the cost of a search is proportional to
    /// instructions × scalars.
    private(set) var steps = 0
    /// The most steps the search may take; past them it stops, unanswered.
    private let stepLimit: Int
    /// Read every ``abandonmentInterval`` steps or so (at the next scalar): once set, the search stops, unanswered.
    private let abandonment: RegexAbandonment?
    static let abandonmentInterval = 1 << 20

    init(_ program: RegexProgram, stepLimit: Int = .max, abandonment: RegexAbandonment? = nil) {
        self.program = program
        self.stepLimit = stepLimit
        self.abandonment = abandonment
    }

    /// Whether the program matches somewhere in `text`; `nil` when the search would take more than its step limit.
    mutating func matches(_ text: String.UnicodeScalarView) -> Bool? {
        let instructions = program.instructions
        var current = RegexThreadList(capacity: instructions.count)
        var next = RegexThreadList(capacity: instructions.count)
        var scalars = text.makeIterator()
        var previous: Unicode.Scalar? = nil
        var scalar = scalars.next()
        var following = scalar == nil ? nil : scalars.next()

        if add(0, to: &current, previous: previous, current: scalar, following: following) { return true }
        var nextAbandonmentCheck = PikeVM.abandonmentInterval
        while let consumed = scalar {
            if current.isEmpty && program.isAnchoredAtStart { return false }
            // Checked once per scalar: a scalar costs at most a visit of each instruction, so the search stops within
            // a program's size of the limit.
            if steps > stepLimit { return nil }
            if steps >= nextAbandonmentCheck {
                if abandonment?.isAbandoned == true { return nil }
                nextAbandonmentCheck = steps + PikeVM.abandonmentInterval
            }
            let value = consumed.value
            let lower = program.isCaseInsensitive ? ScalarSet.lowercase(consumed) : value
            let upper = program.isCaseInsensitive ? ScalarSet.uppercase(consumed) : value
            previous = consumed
            scalar = following
            following = scalar == nil ? nil : scalars.next()

            next.removeAll()
            for slot in 0..<current.count {
                let state = current[slot]
                steps += 1
                let advances: Bool
                switch instructions[state] {
                case .scalar(let expected): advances = expected == consumed
                case .set(let set): advances = set.contains(value, lower: lower, upper: upper)
                case .any: advances = true
                case .anyExceptNewline: advances = value != 0x0A
                case .assert, .split, .jump, .match: advances = false  // followed already, when added
                }
                if advances && add(state + 1, to: &next, previous: previous, current: scalar, following: following) {
                    return true
                }
            }
            if !program.isAnchoredAtStart
                && add(0, to: &next, previous: previous, current: scalar, following: following)
            {
                return true
            }
            swap(&current, &next)
        }
        return false
    }

    /// Adds `state` and every state it reaches without consuming (through splits, jumps and assertions that hold
    /// at this position) to `list`; returns whether one of them is `match`.
    ///
    /// The states added by this call are followed in the order they were added, using the list itself as the
    /// queue: a state already in the list was followed when it was added, by this call or an earlier one.
    private mutating func add(
        _ state: Int, to list: inout RegexThreadList,
        previous: Unicode.Scalar?, current: Unicode.Scalar?, following: Unicode.Scalar?
    ) -> Bool {
        var slot = list.count
        guard list.insert(state) else { return false }
        while slot < list.count {
            let state = list[slot]
            slot += 1
            steps += 1
            switch program.instructions[state] {
            case .match: return true
            case .jump(let target): list.insert(target)
            case .split(let first, let second):
                list.insert(first)
                list.insert(second)
            case .assert(let assertion):
                if assertion.holds(previous: previous, current: current, following: following) { list.insert(state + 1) }
            case .scalar, .set, .any, .anyExceptNewline: break  // waits in the list for the next scalar
            }
        }
        return false
    }
}
