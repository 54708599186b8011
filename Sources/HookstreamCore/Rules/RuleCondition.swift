/// One test in a rule's `when`: a path into the message and what its value must be.
public struct RuleCondition: Sendable, Hashable {
    /// What the value at ``path`` must satisfy.
    public enum Test: Sendable, Hashable {
        /// Equal to one of these (compared as text: `42` equals `"42"`).
        case oneOf([String])
        /// Present (and not null), or absent.
        case exists(Bool)
    }

    /// The dotted path, as written (`body.action`, `header.x-github-event`).
    public let path: String
    let components: [Substring]
    public let test: Test

    public init(path: String, test: Test) {
        self.path = path
        self.components = path.split(separator: ".", omittingEmptySubsequences: false)
        self.test = test
    }

    /// Whether the message satisfies this condition.
    public func isSatisfied(by context: JSONValue) -> Bool {
        let value = context.value(atPath: components).flatMap { $0 == .null ? nil : $0 }
        switch test {
        case .exists(let expected):
            return (value != nil) == expected
        case .oneOf(let candidates):
            guard let value else { return false }
            return candidates.contains(value.templateText)
        }
    }
}
