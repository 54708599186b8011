/// A compiled regular expression: the instructions that `PikeVM` runs.
///
/// Compiled once, when the config is loaded, and only read afterwards, so one program can be shared by every
/// event loop. Its size is bounded (`maximumSize`) because matching costs up to one step per instruction per
/// scalar of the text: the bound is what keeps a rule's cost proportional to the length of the value it reads.
struct RegexProgram: Sendable {
    /// The most instructions a pattern may compile to. Counted repetitions copy their contents (`(ab){500}` is a
    /// thousand instructions), so this is what refuses `(x{1000}){1000}` and the like.
    static let maximumSize = 5_000

    let instructions: [RegexInstruction]
    /// Whether any instruction compares case-insensitively, so the matcher computes a scalar's case mappings only
    /// when something reads them.
    let isCaseInsensitive: Bool
    /// Whether a match can only start at the start of the text (`^...`, `\A...`).
    let isAnchoredAtStart: Bool

    /// Compiles `node`; throws when the program would be larger than `maximumSize`.
    init(_ node: RegexNode, pattern: String) throws(CompiledRegex.SyntaxError) {
        let size = node.programSize(limit: RegexProgram.maximumSize)
        guard size + 1 <= RegexProgram.maximumSize else {
            throw CompiledRegex.SyntaxError(
                pattern: pattern,
                message: "the pattern is too large: it would compile to more than \(RegexProgram.maximumSize) instructions "
                    + "(counted repetitions such as {100} copy what they repeat); matching costs up to one step per "
                    + "instruction per character, so large programs are refused")
        }
        var emitter = Emitter()
        emitter.instructions.reserveCapacity(size + 1)
        emitter.emit(node)
        emitter.instructions.append(.match)
        instructions = emitter.instructions
        isCaseInsensitive = emitter.instructions.contains {
            if case .set(let set) = $0 { return set.isCaseInsensitive }
            return false
        }
        isAnchoredAtStart = node.isAnchoredAtStart
    }

    /// Appends the instructions of a node. Recursion follows the nesting of the pattern's groups, which the
    /// parser bounds, never the length of anything.
    private struct Emitter {
        var instructions: [RegexInstruction] = []

        mutating func emit(_ node: RegexNode) {
            switch node {
            case .empty: break
            case .scalar(let scalar): instructions.append(.scalar(scalar))
            case .set(let set): instructions.append(.set(set))
            case .any(let matchesNewline): instructions.append(matchesNewline ? .any : .anyExceptNewline)
            case .assertion(let assertion): instructions.append(.assert(assertion))
            case .concatenation(let items): for item in items { emit(item) }
            case .alternation(let branches): emitAlternation(branches)
            case .repetition(let child, let minimum, let maximum): emitRepetition(child, minimum: minimum, maximum: maximum)
            }
        }

        /// `a|b|c` as split(a, split(b, c)), each branch but the last jumping past the rest.
        private mutating func emitAlternation(_ branches: [RegexNode]) {
            var jumps: [Int] = []
            for (index, branch) in branches.enumerated() {
                if index == branches.count - 1 {
                    emit(branch)
                    break
                }
                let split = placeholder()
                emit(branch)
                jumps.append(placeholder())
                instructions[split] = .split(split + 1, instructions.count)
            }
            for jump in jumps { instructions[jump] = .jump(instructions.count) }
        }

        private mutating func emitRepetition(_ child: RegexNode, minimum: Int, maximum: Int?) {
            guard let maximum else {
                if minimum == 0 {
                    // loop: split(body, exit); body; jump loop
                    let loop = placeholder()
                    emit(child)
                    instructions.append(.jump(loop))
                    instructions[loop] = .split(loop + 1, instructions.count)
                } else {
                    for _ in 0..<(minimum - 1) { emit(child) }
                    // body; split(body, exit)
                    let body = instructions.count
                    emit(child)
                    instructions.append(.split(body, instructions.count + 1))
                }
                return
            }
            for _ in 0..<minimum { emit(child) }
            // Each optional copy may be skipped straight to the end: split(copy, end); copy; split(copy, end); ...
            var splits: [Int] = []
            for _ in minimum..<maximum {
                splits.append(placeholder())
                emit(child)
            }
            for split in splits { instructions[split] = .split(split + 1, instructions.count) }
        }

        /// Reserves an instruction to be patched once its target is known.
        private mutating func placeholder() -> Int {
            instructions.append(.match)
            return instructions.count - 1
        }
    }
}
