/// What a value in a message must be for a rule's condition to hold.
public enum ValueTest: Sendable, CustomStringConvertible {
    /// Equal to this text (values are compared as text: `42` equals `"42"`, `true` equals `"true"`).
    case equals(String)
    /// Equal to one of these.
    case oneOf([String])
    /// Present and not null (`true`), or absent or null (`false`).
    case exists(Bool)
    /// Text that the regular expression matches somewhere (anchor it with `^` and `$` for a whole match).
    case regex(CompiledRegex)
    case prefix(String)
    case suffix(String)
    /// A string containing this text, an array with an element equal to it, or an object with this key.
    case contains(String)
    /// A number (or a string holding one) compared with this one.
    case compare(Comparison, Double)
    /// As `compare`, with a bound written as an integer: an integer value is compared exactly (as a double,
    /// 9007199254740993 would equal 9007199254740992).
    case compareInteger(Comparison, Int64)

    /// A numeric comparison.
    public enum Comparison: String, Sendable, CaseIterable {
        case greaterThan = "gt"
        case greaterThanOrEqual = "gte"
        case lessThan = "lt"
        case lessThanOrEqual = "lte"

        var symbol: String {
            switch self {
            case .greaterThan: ">"
            case .greaterThanOrEqual: ">="
            case .lessThan: "<"
            case .lessThanOrEqual: "<="
            }
        }

        func holds<Number: Comparable>(_ value: Number, _ bound: Number) -> Bool {
            switch self {
            case .greaterThan: value > bound
            case .greaterThanOrEqual: value >= bound
            case .lessThan: value < bound
            case .lessThanOrEqual: value <= bound
            }
        }
    }

    /// Whether `value` (`nil` when absent) passes this test. Routing asks only this; the reason a test failed
    /// (``failure(_:at:)``) is built for `hookstream route` alone, since it shows the value, which may be large.
    /// - Throws: ``CompiledRegex/SearchLimitExceeded`` when a regex search is given up (`budget` has run out).
    func holds(_ value: JSONValue?, budget: inout RegexBudget) throws(CompiledRegex.SearchLimitExceeded) -> Bool {
        let present = value.flatMap { $0 == .null ? nil : $0 }
        if case .exists(let expected) = self { return (present != nil) == expected }
        guard let value = present else { return false }
        switch self {
        case .exists: return true  // handled above
        case .equals(let expected): return value.templateText == expected
        case .oneOf(let candidates): return candidates.contains(value.templateText)
        case .regex(let regex): return try regex.matches(value.templateText, budget: &budget)
        case .prefix(let prefix): return value.templateText.hasPrefix(prefix)
        case .suffix(let suffix): return value.templateText.hasSuffix(suffix)
        case .contains(let needle):
            switch value {
            case .array(let elements): return elements.contains { $0.templateText == needle }
            case .object(let members): return members.contains { $0.key == needle }
            default: return value.templateText.contains(needle)
            }
        case .compare(let comparison, let bound):
            guard let number = ValueTest.number(value) else { return false }
            return comparison.holds(number, bound)
        case .compareInteger(let comparison, let bound):
            switch value {
            case .number(let text), .string(let text):
                if let integer = Int64(text) { return comparison.holds(integer, bound) }
            default: break
            }
            guard let number = ValueTest.number(value) else { return false }
            return comparison.holds(number, Double(bound))
        }
    }

    /// Why `value` (found at `path`; `nil` when absent) fails this test, or `nil` when it passes.
    func failure(
        _ value: JSONValue?, at path: ValuePath, budget: inout RegexBudget
    ) throws(CompiledRegex.SearchLimitExceeded) -> String? {
        if try holds(value, budget: &budget) { return nil }
        let present = value.flatMap { $0 == .null ? nil : $0 }
        // A null is no value to test, as an absent key; the reason says which of the two was found.
        let none = value == nil ? "\(path) is missing" : "\(path) is null"
        if case .exists(let expected) = self {
            return expected ? none : "\(path) exists (\(ValueTest.show(present!)))"
        }
        guard let value = present else { return none }
        switch self {
        case .compare, .compareInteger:
            if ValueTest.number(value) == nil { return "\(path) is \(ValueTest.show(value)), not a number" }
        default: break
        }
        return "\(path) is \(ValueTest.show(value)), \(expectation)"
    }

    /// What the test wanted, for messages ("expected push").
    private var expectation: String {
        switch self {
        case .equals(let expected): "expected \(ValueTest.quote(expected))"
        case .oneOf(let candidates): "expected one of \(candidates.map(ValueTest.quote).joined(separator: ", "))"
        case .exists(let expected): expected ? "expected to exist" : "expected to be absent"
        case .regex(let regex): "which does not match /\(regex.pattern)/"
        case .prefix(let prefix): "which does not start with \(ValueTest.quote(prefix))"
        case .suffix(let suffix): "which does not end with \(ValueTest.quote(suffix))"
        case .contains(let needle): "which does not contain \(ValueTest.quote(needle))"
        case .compare(let comparison, let bound): "not \(comparison.symbol) \(ValueTest.format(bound))"
        case .compareInteger(let comparison, let bound): "not \(comparison.symbol) \(bound)"
        }
    }

    public var description: String {
        switch self {
        case .equals(let expected): "== \(ValueTest.quote(expected))"
        case .oneOf(let candidates): "in [\(candidates.map(ValueTest.quote).joined(separator: ", "))]"
        case .exists(let expected): expected ? "exists" : "does not exist"
        case .regex(let regex): "matches /\(regex.pattern)/"
        case .prefix(let prefix): "starts with \(ValueTest.quote(prefix))"
        case .suffix(let suffix): "ends with \(ValueTest.quote(suffix))"
        case .contains(let needle): "contains \(ValueTest.quote(needle))"
        case .compare(let comparison, let bound): "\(comparison.symbol) \(ValueTest.format(bound))"
        case .compareInteger(let comparison, let bound): "\(comparison.symbol) \(bound)"
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let text), .string(let text): Double(text).flatMap { $0.isFinite ? $0 : nil }
        default: nil
        }
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    static func quote(_ text: String) -> String {
        JSONValue.string(text.count > 60 ? String(text.prefix(57)) + "..." : text).jsonText
    }

    /// A value as a message shows it: strings quoted, long values shortened.
    static func show(_ value: JSONValue) -> String {
        let text = value.stringValue.map { JSONValue.string($0).jsonText } ?? value.jsonText
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }
}
