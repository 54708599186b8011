/// One instruction of a `RegexProgram`, in the style of Thompson's construction as described by Russ Cox
/// ("Regular Expression Matching: the Virtual Machine Approach").
///
/// There is no instruction that records a position (no captures): a rule only needs a yes/no answer, so the
/// matcher can run the whole automaton as a set of states and never needs to prefer one thread over another.
enum RegexInstruction: Sendable, Equatable {
    /// Consume this scalar.
    case scalar(Unicode.Scalar)
    /// Consume a scalar of the set.
    case set(ScalarSet)
    /// Consume any scalar (`.` under `(?s)`).
    case any
    /// Consume any scalar but `\n` (`.`).
    case anyExceptNewline
    /// Continue at the next instruction if the assertion holds at the current position; otherwise the thread dies.
    case assert(RegexAssertion)
    /// Continue at both targets.
    case split(Int, Int)
    case jump(Int)
    /// The pattern has matched.
    case match

    /// Whether the instruction consumes a scalar (the others are followed without moving in the text).
    var isConsuming: Bool {
        switch self {
        case .scalar, .set, .any, .anyExceptNewline: true
        case .assert, .split, .jump, .match: false
        }
    }
}
