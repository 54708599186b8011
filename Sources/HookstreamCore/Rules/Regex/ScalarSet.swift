/// A set of Unicode scalars that one step of a regular expression can consume: a bracket expression, a
/// shorthand class such as `\d`, or a literal written under `(?i)`.
///
/// Kept as sorted, disjoint ranges rather than a predicate, so that complements (`\D`, `[^...]`, `\W` inside a
/// bracket) and unions are computed once when the pattern is compiled and a test at match time is a binary
/// search. Case-insensitivity is applied at match time (the scalar, its lowercase and its uppercase are each
/// tried) because closing a range such as `[^a]` over case would mean visiting every scalar it holds.
struct ScalarSet: Sendable, Equatable {
    /// Sorted, disjoint, non-adjacent ranges of scalar values.
    private(set) var ranges: [ClosedRange<UInt32>]
    /// Whether the set holds the scalars *outside* `ranges` (`[^...]`, `\D`). Negation is applied after case
    /// folding, so that `(?i)[^a]` refuses `A` as PCRE does.
    var isNegated: Bool
    /// Whether a scalar also belongs when its simple lowercase or uppercase mapping does.
    var isCaseInsensitive: Bool

    init(_ ranges: [ClosedRange<UInt32>] = [], isNegated: Bool = false, isCaseInsensitive: Bool = false) {
        self.ranges = ScalarSet.normalized(ranges)
        self.isNegated = isNegated
        self.isCaseInsensitive = isCaseInsensitive
    }

    /// Whether `scalar` belongs. `lower` and `upper` are its simple case mappings, computed once per position of
    /// the text by the caller (they are only read when the set is case-insensitive).
    @inline(__always)
    func contains(_ scalar: UInt32, lower: UInt32, upper: UInt32) -> Bool {
        var found = rangesContain(scalar)
        if !found && isCaseInsensitive { found = rangesContain(lower) || rangesContain(upper) }
        return found != isNegated
    }

    private func rangesContain(_ value: UInt32) -> Bool {
        var low = 0
        var high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            let range = ranges[middle]
            if value < range.lowerBound {
                high = middle
            } else if value > range.upperBound {
                low = middle + 1
            } else {
                return true
            }
        }
        return false
    }

    /// Adds the scalars of `other` (which must not be negated or case-insensitive itself: the shorthand classes
    /// inside a bracket are plain ranges, complemented already if negated).
    mutating func formUnion(_ other: [ClosedRange<UInt32>]) {
        ranges = ScalarSet.normalized(ranges + other)
    }

    /// The scalar values not in `ranges` (the surrogate gap may be included: no `Unicode.Scalar` holds one).
    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in normalized(ranges) {
            if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
            next = range.upperBound &+ 1
            if range.upperBound == maximumScalar { return result }
        }
        result.append(next...maximumScalar)
        return result
    }

    static let maximumScalar: UInt32 = 0x10FFFF

    /// Sorts and merges overlapping or adjacent ranges.
    static func normalized(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        merged.reserveCapacity(sorted.count)
        for range in sorted {
            if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    // MARK: - Case mappings

    /// The simple (one-scalar) lowercase mapping of `scalar`, or the scalar itself when it has none. Simple
    /// mappings keep matching one scalar per step; full folding (`ß` to `ss`) would not.
    @inline(__always)
    static func lowercase(_ scalar: Unicode.Scalar) -> UInt32 {
        let value = scalar.value
        if value < 0x80 { return value >= 0x41 && value <= 0x5A ? value + 0x20 : value }
        return single(scalar.properties.lowercaseMapping) ?? value
    }

    /// The simple (one-scalar) uppercase mapping of `scalar`, or the scalar itself when it has none.
    @inline(__always)
    static func uppercase(_ scalar: Unicode.Scalar) -> UInt32 {
        let value = scalar.value
        if value < 0x80 { return value >= 0x61 && value <= 0x7A ? value - 0x20 : value }
        return single(scalar.properties.uppercaseMapping) ?? value
    }

    private static func single(_ mapping: String) -> UInt32? {
        var scalars = mapping.unicodeScalars.makeIterator()
        guard let first = scalars.next(), scalars.next() == nil else { return nil }
        return first.value
    }

    // MARK: - Shorthand classes (ASCII `\d` and `\w`, as PCRE without UCP; Unicode White_Space for `\s`)

    static let digits: [ClosedRange<UInt32>] = [0x30...0x39]
    static let wordCharacters: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    /// The Unicode `White_Space` property: a fixed list, so ranges rather than a property lookup per scalar.
    static let whitespace: [ClosedRange<UInt32>] = [
        0x09...0x0D, 0x20...0x20, 0x85...0x85, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A,
        0x2028...0x2029, 0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000,
    ]
    /// `\h`: horizontal whitespace, as PCRE defines it.
    static let horizontalWhitespace: [ClosedRange<UInt32>] = [
        0x09...0x09, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x180E...0x180E, 0x2000...0x200A,
        0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000,
    ]
    /// `\v`: vertical whitespace, as PCRE defines it (it includes the vertical tab, U+000B).
    static let verticalWhitespace: [ClosedRange<UInt32>] = [0x0A...0x0D, 0x85...0x85, 0x2028...0x2029]

    /// Whether `scalar` is a word character for `\b` and `\B` (the same ASCII set as `\w`).
    @inline(__always)
    static func isWordCharacter(_ scalar: Unicode.Scalar?) -> Bool {
        guard let value = scalar?.value, value < 0x80 else { return false }
        return (value >= 0x30 && value <= 0x39) || (value >= 0x41 && value <= 0x5A) || value == 0x5F
            || (value >= 0x61 && value <= 0x7A)
    }

    /// The ASCII POSIX classes accepted inside brackets, `[[:alpha:]]`.
    static let posixClasses: [String: [ClosedRange<UInt32>]] = [
        "alnum": [0x30...0x39, 0x41...0x5A, 0x61...0x7A],
        "alpha": [0x41...0x5A, 0x61...0x7A],
        "ascii": [0x00...0x7F],
        "blank": [0x09...0x09, 0x20...0x20],
        "cntrl": [0x00...0x1F, 0x7F...0x7F],
        "digit": [0x30...0x39],
        "graph": [0x21...0x7E],
        "lower": [0x61...0x7A],
        "print": [0x20...0x7E],
        "punct": [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E],
        "space": [0x09...0x0D, 0x20...0x20],
        "upper": [0x41...0x5A],
        "word": wordCharacters,
        "xdigit": [0x30...0x39, 0x41...0x46, 0x61...0x66],
    ]
}
