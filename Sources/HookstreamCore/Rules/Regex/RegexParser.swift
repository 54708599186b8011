/// Parses a rule's regular expression (a PCRE-like subset) into a `RegexNode`.
///
/// The subset is what a finite automaton can match in one pass: everything that needs backtracking
/// (backreferences, lookaround, atomic groups, conditionals, recursion) is refused here, when the config is
/// loaded, with a message that names it, rather than accepted and matched by an engine whose time on one webhook
/// has no bound. The grammar otherwise follows PCRE where PCRE and Swift's `Regex` agree, so that patterns
/// written for either keep their meaning.
///
/// The pattern is read as Unicode scalars; offsets in messages count scalars from 0.
struct RegexParser {
    /// The largest count a repetition (`{m,n}`) may give. Counted repetitions are compiled by copying what they
    /// repeat, so counts bound the program's size and, through it, the cost of each scalar matched.
    static let maximumRepetition = 1000
    /// How deeply groups may nest; parsing and compiling recurse once per level.
    static let maximumNesting = 200

    private let pattern: String
    private let scalars: [Unicode.Scalar]
    private var position = 0
    private var flags = Flags()
    private var depth = 0
    /// The names of the named groups so far: PCRE and Swift refuse a name given twice, and so does this.
    private var groupNames: Set<String> = []

    /// The inline flags in force; a `(?i)` lasts until the end of the group it appears in, as in PCRE.
    private struct Flags {
        var isCaseInsensitive = false
        var isMultiline = false
        var dotMatchesNewline = false
    }

    /// What one atom of the pattern parsed to.
    private enum Atom {
        /// Something a quantifier may follow.
        case repeatable(RegexNode)
        /// An anchor or word boundary: PCRE lets some of them be repeated, to no effect; refusing is clearer.
        case assertion(RegexNode)
        /// Flags or a comment: nothing to match, and nothing a quantifier may follow.
        case nothing
    }

    /// One item of a bracket expression.
    private enum ClassItem {
        case scalar(Unicode.Scalar)
        case ranges([ClosedRange<UInt32>])
    }

    init(_ pattern: String) {
        self.pattern = pattern
        scalars = Array(pattern.unicodeScalars)
    }

    mutating func parse() throws(CompiledRegex.SyntaxError) -> RegexNode {
        let node = try parseAlternation()
        if position < scalars.count {  // only a ')' ends an alternation early
            throw failure("unbalanced ')' at offset \(position): there is no group for it to close (write \\) for a literal ')')")
        }
        return node
    }

    // MARK: - Structure

    private mutating func parseAlternation() throws(CompiledRegex.SyntaxError) -> RegexNode {
        var branches = [try parseConcatenation()]
        while peek() == "|" {
            position += 1
            branches.append(try parseConcatenation())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseConcatenation() throws(CompiledRegex.SyntaxError) -> RegexNode {
        var items: [RegexNode] = []
        while let next = peek(), next != "|", next != ")" {
            let start = position
            if try quantifier() != nil {
                let what = items.isEmpty ? "has nothing to repeat" : "follows something that cannot be repeated"
                throw failure("quantifier '\(next)' at offset \(start) \(what)")
            }
            let atom: Atom
            if next == "\\" && peek(1) == "Q" {
                // \Q...\E quotes literally; a quantifier after it repeats the last character, as in PCRE.
                var quoted = parseQuoted()
                guard let last = quoted.popLast() else { continue }
                items.append(contentsOf: quoted.map { literal($0) })
                atom = .repeatable(literal(last))
            } else {
                atom = try parseAtom()
            }
            switch atom {
            case .nothing:
                continue
            case .assertion(let node):
                if try quantifier() != nil {
                    throw failure("quantifier at offset \(position) follows an anchor or word boundary, which cannot be repeated")
                }
                items.append(node)
            case .repeatable(var node):
                if let (minimum, maximum, end) = try quantifier() {
                    position = end
                    // Lazy (`*?`) and possessive (`*+`) forms: the same yes/no answer as greedy here (see RegexNode).
                    if peek() == "?" || peek() == "+" { position += 1 }
                    node = .repetition(node, minimum: minimum, maximum: maximum)
                    if try quantifier() != nil {
                        throw failure("quantifier at offset \(position) follows another quantifier; "
                            + "wrap the repeated part in (?: ) to repeat it again")
                    }
                }
                items.append(node)
            }
        }
        return items.count == 1 ? items[0] : items.isEmpty ? .empty : .concatenation(items)
    }

    /// The quantifier at the current position, without consuming it: its bounds and where it ends. A `{` that
    /// does not start `{m}`, `{m,}`, `{m,n}` or `{,n}` is a literal, as in PCRE.
    private func quantifier() throws(CompiledRegex.SyntaxError) -> (minimum: Int, maximum: Int?, end: Int)? {
        switch peek() {
        case "*": return (0, nil, position + 1)
        case "+": return (1, nil, position + 1)
        case "?": return (0, 1, position + 1)
        case "{": break
        default: return nil
        }
        var cursor = position + 1
        func number() -> Int? {
            var value: Int? = nil
            while cursor < scalars.count, let digit = RegexParser.digit(scalars[cursor]) {
                value = min((value ?? 0) * 10 + Int(digit), 1_000_000_000)
                cursor += 1
            }
            return value
        }
        let minimum = number()
        var maximum = minimum
        var isUnbounded = false
        if cursor < scalars.count && scalars[cursor] == "," {
            cursor += 1
            maximum = number()
            isUnbounded = maximum == nil
        }
        guard cursor < scalars.count, scalars[cursor] == "}", minimum != nil || maximum != nil else { return nil }
        let text = String(String.UnicodeScalarView(scalars[position...cursor]))
        for count in [minimum, maximum].compactMap(\.self) where count > RegexParser.maximumRepetition {
            throw failure("repetition \(text) at offset \(position) is above the limit of \(RegexParser.maximumRepetition): "
                + "counted repetitions are compiled by copying what they repeat, and large programs make every match slower")
        }
        if let minimum, let maximum, minimum > maximum {
            throw failure("repetition \(text) at offset \(position) has its minimum above its maximum")
        }
        return (minimum ?? 0, isUnbounded ? nil : maximum, cursor + 1)
    }

    private mutating func parseAtom() throws(CompiledRegex.SyntaxError) -> Atom {
        let start = position
        let next = scalars[position]
        position += 1
        switch next {
        case "(": return try parseGroup(openedAt: start)
        case "[": return .repeatable(try parseClass(openedAt: start))
        case ".": return .repeatable(.any(matchesNewline: flags.dotMatchesNewline))
        case "^": return .assertion(.assertion(flags.isMultiline ? .startOfLine : .startOfText))
        case "$": return .assertion(.assertion(flags.isMultiline ? .endOfLine : .endOfTextOrFinalNewline))
        case "\\": return try parseEscape(at: start)
        default: return .repeatable(literal(next))
        }
    }

    // MARK: - Groups

    private mutating func parseGroup(openedAt start: Int) throws(CompiledRegex.SyntaxError) -> Atom {
        guard depth < RegexParser.maximumNesting else {
            throw failure("the group at offset \(start) is nested more than \(RegexParser.maximumNesting) deep")
        }
        if peek() == "*" { throw unsupported("backtracking control verb (*", at: start) }
        let outerFlags = flags
        if peek() == "?" {
            position += 1
            switch peek() {
            case ":", "|":  // non-capturing; a branch reset group only renumbers captures, which do not exist here
                position += 1
            case "=": throw unsupported("lookahead (?=", at: start)
            case "!": throw unsupported("negative lookahead (?!", at: start)
            case ">": throw unsupported("atomic group (?>", at: start)
            case "(": throw unsupported("conditional group (?(", at: start)
            case "R", "&": throw unsupported("recursion (?\(peek()!)", at: start)
            case let sign? where RegexParser.digit(sign) != nil
                || ((sign == "+" || sign == "-") && peek(1).flatMap(RegexParser.digit) != nil):
                throw unsupported("recursion (?\(sign)", at: start)
            case "#":
                while let next = peek(), next != ")" { position += 1 }
                guard peek() == ")" else { throw failure("the comment (?# at offset \(start) is never closed: missing ')'") }
                position += 1
                return .nothing
            case "<" where peek(1) == "=": throw unsupported("lookbehind (?<=", at: start)
            case "<" where peek(1) == "!": throw unsupported("negative lookbehind (?<!", at: start)
            case "<":
                position += 1
                try parseGroupName(closedBy: ">", groupAt: start)
            case "'":
                position += 1
                try parseGroupName(closedBy: "'", groupAt: start)
            case "P":
                switch peek(1) {
                case "<":
                    position += 2
                    try parseGroupName(closedBy: ">", groupAt: start)
                case "=": throw unsupported("backreference (?P=", at: start)
                case ">": throw unsupported("recursion (?P>", at: start)
                default: throw failure("unknown group syntax (?P at offset \(start)")
                }
            default:
                if try parseFlags(groupAt: start) { return .nothing }
            }
        }
        depth += 1
        let inner = try parseAlternation()
        depth -= 1
        guard peek() == ")" else {
            throw failure("the group opened at offset \(start) is never closed: missing ')' (write \\( for a literal '(')")
        }
        position += 1
        flags = outerFlags
        return .repeatable(inner)
    }

    /// Reads the flags of `(?imsx-imsx)` or `(?imsx-imsx:`; returns `true` for the first form, whose flags stay
    /// in force until the end of the enclosing group.
    private mutating func parseFlags(groupAt start: Int) throws(CompiledRegex.SyntaxError) -> Bool {
        var updated = flags
        var isTurningOn = true
        if peek() == "^" {  // (?^...): start from the defaults
            updated = Flags()
            position += 1
        }
        while let next = peek(), next != ")", next != ":" {
            switch next {
            case "-" where isTurningOn: isTurningOn = false
            case "i": updated.isCaseInsensitive = isTurningOn
            case "m": updated.isMultiline = isTurningOn
            case "s": updated.dotMatchesNewline = isTurningOn
            case "n", "U": break  // no captures, lazy by default: neither changes whether a pattern matches
            case "x":
                throw failure("flag 'x' (extended syntax, with ignored spaces and # comments) at offset \(position) "
                    + "is not supported; supported flags are i, m and s")
            default:
                throw failure("unknown or unsupported group syntax (?\(String(String.UnicodeScalarView(scalars[(start + 2)...position]))) "
                    + "at offset \(start); supported inline flags are i, m and s")
            }
            position += 1
        }
        guard let end = peek() else {
            throw failure("the group opened at offset \(start) is never closed: missing ')'")
        }
        position += 1
        flags = updated
        return end == ")"
    }

    private mutating func parseGroupName(closedBy terminator: Unicode.Scalar, groupAt start: Int) throws(CompiledRegex.SyntaxError) {
        let nameStart = position
        while let next = peek(), next != terminator {
            let isValid = ScalarSet.isWordCharacter(next) && !(position == nameStart && next.properties.numericType == .decimal)
            guard isValid else { throw failure("invalid group name at offset \(nameStart): use letters, digits and '_', not starting with a digit") }
            position += 1
        }
        guard peek() == terminator, position > nameStart else {
            throw failure("the group name at offset \(nameStart) is empty or not closed with '\(terminator)'")
        }
        let name = String(String.UnicodeScalarView(scalars[nameStart..<position]))
        guard groupNames.insert(name).inserted else {
            throw failure("the group name '\(name)' at offset \(nameStart) is used twice")
        }
        position += 1
    }

    // MARK: - Escapes

    private mutating func parseEscape(at start: Int) throws(CompiledRegex.SyntaxError) -> Atom {
        guard let next = peek() else { throw failure("the pattern ends with a lone backslash (write \\\\ for a literal '\\')") }
        if let ranges = shorthandClass(next) {
            position += 1
            return .repeatable(.set(ScalarSet(ranges)))
        }
        let assertion: RegexAssertion? = switch next {
        case "b": .wordBoundary
        case "B": .notWordBoundary
        case "A": .startOfText
        case "z": .endOfText
        case "Z": .endOfTextOrFinalNewline
        default: nil
        }
        if let assertion {
            position += 1
            return .assertion(.assertion(assertion))
        }
        switch next {
        case "1"..."9": throw unsupported("backreference \\\(next)", at: start)
        case "g", "k": throw unsupported("backreference \\\(next)", at: start)
        default: return .repeatable(literal(try parseScalarEscape(at: start)))
        }
    }

    /// `\d`, `\s`, `\w`, `\h`, `\v` and their negations, as ranges (complemented for the upper-case forms).
    private func shorthandClass(_ letter: Unicode.Scalar) -> [ClosedRange<UInt32>]? {
        let ranges: [ClosedRange<UInt32>]
        switch letter {
        case "d", "D": ranges = ScalarSet.digits
        case "w", "W": ranges = ScalarSet.wordCharacters
        case "s", "S": ranges = ScalarSet.whitespace
        case "h", "H": ranges = ScalarSet.horizontalWhitespace
        case "v", "V": ranges = ScalarSet.verticalWhitespace
        default: return nil
        }
        return letter.properties.isUppercase ? ScalarSet.complement(ranges) : ranges
    }

    /// An escape that stands for one scalar (the position is on the character after the backslash). Any other
    /// escaped ASCII letter or digit is refused: PCRE and Swift give many of them meanings this matcher lacks.
    private mutating func parseScalarEscape(at start: Int) throws(CompiledRegex.SyntaxError) -> Unicode.Scalar {
        let letter = scalars[position]
        position += 1
        switch letter {
        case "t": return "\t"
        case "n": return "\n"
        case "r": return "\r"
        case "f": return "\u{0C}"
        case "a": return "\u{07}"
        case "e": return "\u{1B}"
        case "0":
            // \0 and up to two more octal digits, as PCRE.
            var value: UInt32 = 0
            for _ in 0..<2 {
                guard let digit = peek(), ("0"..."7").contains(digit) else { break }
                value = value * 8 + digit.value - 0x30
                position += 1
            }
            return Unicode.Scalar(value)!
        case "x", "u":
            let value: UInt32
            if peek() == "{" {
                position += 1
                let digits = hexDigits(maximumCount: 8)
                guard peek() == "}", let parsed = digits else {
                    throw failure("\\\(letter){ at offset \(start) needs hexadecimal digits and a closing '}'")
                }
                position += 1
                value = parsed
            } else if letter == "x" {
                guard let parsed = hexDigits(maximumCount: 2) else { throw failure("\\x at offset \(start) needs hexadecimal digits") }
                value = parsed
            } else {
                let digitsStart = position
                guard let parsed = hexDigits(maximumCount: 4), position - digitsStart == 4 else {
                    throw failure("\\u at offset \(start) needs four hexadecimal digits (or \\u{...})")
                }
                value = parsed
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw failure("the escape at offset \(start) is not a Unicode scalar value (U+\(String(value, radix: 16, uppercase: true)))")
            }
            return scalar
        case "p", "P":
            throw failure("Unicode property class \\\(letter) at offset \(start) is not supported; use a bracket expression such as [a-zA-Z]")
        default:
            guard letter.isASCII, letter.properties.isAlphabetic || letter.properties.numericType != nil else {
                return letter  // escaped punctuation, space or a non-ASCII character: itself
            }
            throw failure("unknown or unsupported escape \\\(letter) at offset \(start)")
        }
    }

    /// Up to `maximumCount` hexadecimal digits, or `nil` if there is none.
    private mutating func hexDigits(maximumCount: Int) -> UInt32? {
        var value: UInt32 = 0
        var count = 0
        while count < maximumCount, let next = peek(), next.isASCII, let digit = UInt32(String(next), radix: 16) {
            value = value * 16 + digit
            count += 1
            position += 1
        }
        return count == 0 ? nil : value
    }

    /// The characters of `\Q...\E` (or to the end of the pattern, as PCRE), the position on the `\`.
    private mutating func parseQuoted() -> [Unicode.Scalar] {
        position += 2
        var quoted: [Unicode.Scalar] = []
        while let next = peek() {
            if next == "\\" && peek(1) == "E" {
                position += 2
                break
            }
            quoted.append(next)
            position += 1
        }
        return quoted
    }

    // MARK: - Bracket expressions

    private mutating func parseClass(openedAt start: Int) throws(CompiledRegex.SyntaxError) -> RegexNode {
        var isNegated = false
        if peek() == "^" {
            isNegated = true
            position += 1
        }
        if peek() == "]" {
            throw failure("empty class at offset \(start): a ']' right after '[' or '[^' closes it (write \\] for a literal ']')")
        }
        var ranges: [ClosedRange<UInt32>] = []
        while true {
            guard let next = peek() else {
                throw failure("the class opened at offset \(start) is never closed: missing ']' (write \\[ for a literal '[')")
            }
            if next == "]" {
                position += 1
                break
            }
            let itemStart = position
            let item = try parseClassItem()
            guard peek() == "-", let after = peek(1), after != "]" else {
                switch item {
                case .scalar(let scalar): ranges.append(scalar.value...scalar.value)
                case .ranges(let more): ranges += more
                }
                continue
            }
            guard case .scalar(let low) = item else {
                throw failure("'-' at offset \(position) follows a class such as \\d, so it cannot make a range (write \\- for a literal '-')")
            }
            position += 1
            guard case .scalar(let high) = try parseClassItem() else {
                throw failure("the range at offset \(itemStart) ends in a class such as \\d (write \\- for a literal '-')")
            }
            guard low.value <= high.value else {
                throw failure("reversed range \(low)-\(high) at offset \(itemStart): its start comes after its end")
            }
            ranges.append(low.value...high.value)
        }
        return .set(ScalarSet(ranges, isNegated: isNegated, isCaseInsensitive: flags.isCaseInsensitive))
    }

    private mutating func parseClassItem() throws(CompiledRegex.SyntaxError) -> ClassItem {
        let start = position
        let next = scalars[position]
        switch next {
        case "[":
            guard peek(1) == ":" else {
                throw failure("'[' at offset \(start) inside a class: nested classes are not supported (write \\[ for a literal '[')")
            }
            return .ranges(try parsePOSIXClass())
        case "&" where peek(1) == "&":
            throw failure("'&&' at offset \(start) inside a class: class intersection is not supported (write \\& for a literal '&')")
        case "\\":
            position += 1
            guard let letter = peek() else { throw failure("the pattern ends with a lone backslash") }
            if let ranges = shorthandClass(letter) {
                position += 1
                return .ranges(ranges)
            }
            switch letter {
            case "b":  // a backspace inside a class, as in PCRE
                position += 1
                return .scalar("\u{08}")
            case "Q", "E":
                throw failure("\\\(letter) at offset \(start) is not supported inside a class")
            default:
                return .scalar(try parseScalarEscape(at: start))
            }
        default:
            position += 1
            return .scalar(next)
        }
    }

    /// `[:alpha:]` and the like (ASCII), with `[:^alpha:]` for the complement; the position is on the `[`.
    private mutating func parsePOSIXClass() throws(CompiledRegex.SyntaxError) -> [ClosedRange<UInt32>] {
        let start = position
        position += 2
        var isNegated = false
        if peek() == "^" {
            isNegated = true
            position += 1
        }
        var name = ""
        while let next = peek(), next != ":" , next != "]" {
            name.unicodeScalars.append(next)
            position += 1
        }
        guard peek() == ":", peek(1) == "]" else {
            throw failure("'[:' at offset \(start) does not start a POSIX class such as [:alpha:] (write \\[ for a literal '[')")
        }
        position += 2
        guard let ranges = ScalarSet.posixClasses[name] else {
            throw failure("unknown POSIX class [:\(name):] at offset \(start)")
        }
        return isNegated ? ScalarSet.complement(ranges) : ranges
    }

    // MARK: - Helpers

    /// The value of an ASCII decimal digit.
    private static func digit(_ scalar: Unicode.Scalar) -> UInt32? {
        ("0"..."9").contains(scalar) ? scalar.value - 0x30 : nil
    }

    private func peek(_ ahead: Int = 0) -> Unicode.Scalar? {
        position + ahead < scalars.count ? scalars[position + ahead] : nil
    }

    /// A literal scalar; under `(?i)` a set of it and its simple case mappings, tested with the text's mappings.
    private func literal(_ scalar: Unicode.Scalar) -> RegexNode {
        guard flags.isCaseInsensitive else { return .scalar(scalar) }
        let lower = ScalarSet.lowercase(scalar)
        let upper = ScalarSet.uppercase(scalar)
        guard lower != scalar.value || upper != scalar.value else { return .scalar(scalar) }
        return .set(ScalarSet([scalar.value...scalar.value, lower...lower, upper...upper], isCaseInsensitive: true))
    }

    private func failure(_ message: String) -> CompiledRegex.SyntaxError {
        CompiledRegex.SyntaxError(pattern: pattern, message: message)
    }

    private func unsupported(_ construct: String, at offset: Int) -> CompiledRegex.SyntaxError {
        failure("\(construct) at offset \(offset) is not supported: rules are matched in time linear in the text, "
            + "without backtracking, so that no webhook can stall the daemon, and this needs backtracking")
    }
}
