import Testing

@testable import HookstreamCore

@Suite struct RegexTests {
    static let matching: [(String, String, Bool)] = [
        // Literals, unanchored.
        ("abc", "xabcx", true), ("abc", "abx", false), ("", "", true), ("", "anything", true), ("é", "café", true),
        // `.`: one scalar, not a newline unless (?s).
        ("a.c", "abc", true), ("a.c", "a\nc", false), ("(?s)a.c", "a\nc", true), ("a.c", "a\rc", true),
        ("^.$", "\u{E9}", true), ("^.$", "e\u{301}", false), ("^..$", "e\u{301}", true), ("^.$", "😀", true),
        // Escapes.
        (#"a\.b"#, "a.b", true), (#"a\.b"#, "axb", false), (#"\\"#, #"a\b"#, true),
        (##"^\*\+\?\(\)\[\]\{\}\|\^\$\/\-\#\%\&\~\ $"##, "*+?()[]{}|^$/-#%&~ ", true),
        (#"a\tb"#, "a\tb", true), (#"a\nb"#, "a\nb", true), (#"\r"#, "\r", true), (#"\f"#, "\u{0C}", true),
        (#"\v"#, "\u{0B}", true), (#"\0"#, "\u{0}", true), (#"\e\a"#, "\u{1B}\u{07}", true),
        (#"\x41"#, "A", true), (#"\x{1F600}"#, "😀", true), (#"\u{e9}"#, "é", true), (#"\u00E9"#, "é", true),
        (#"\Qa.b*\E+"#, "a.b**", true), (#"\Qa.b*\E"#, "axb*", false), (#"\é"#, "é", true),
        // Shorthand classes: \d and \w ASCII, \s Unicode whitespace.
        (#"\d+"#, "abc123", true), (#"^\d+$"#, "12a", false), (#"\D"#, "123", false), (#"\d"#, "٣", false),
        (#"\w"#, "--_--", true), (#"\W"#, "abc", false), (#"\w"#, "é", false), (#"\s"#, "a b", true),
        (#"\s"#, "a\u{A0}b", true), (#"\S"#, " \t\n", false), (#"\h"#, "a\tb", true), (#"\h"#, "a\nb", false),
        // Bracket expressions.
        ("[abc]", "xxbxx", true), ("[abc]", "xyz", false), ("[^abc]", "abc", false), ("[^abc]", "abcd", true),
        ("^[a-z]+$", "hello", true), ("^[a-z]+$", "Hello", false), (#"[\d.]"#, ".", true), (#"[\]\-]"#, "-", true),
        (#"[\]\-]"#, "]", true), ("[-a]", "-", true), ("[a-]", "-", true), (#"^[^\d\s]+$"#, "ab", true),
        (#"^[^\d\s]+$"#, "a b", false), (#"[\W]"#, "a_", false), ("[.]", "a", false), (#"[\^]"#, "^", true),
        ("[a^]", "^", true), ("^[[:alpha:]]+$", "abcXYZ", true), ("[[:alpha:]]", "123", false),
        ("^[[:xdigit:][:space:]]+$", "DEAD beef", true), ("[[:^digit:]]", "123", false), (#"[\x41-\x43]"#, "B", true),
        ("[é-ë]", "ê", true), (#"[\b]"#, "\u{08}", true), ("^[^\n]*$", "a\nb", false),
        // Anchors: ^ and $ at the ends of the text ($ also before a final newline), \A \z \Z, (?m) for lines.
        ("^abc", "abcd", true), ("^abc", "xabc", false), ("abc$", "xabc", true), ("abc$", "abcx", false),
        ("abc$", "abc\n", true), ("abc$", "abc\n\n", false), (#"abc\z"#, "abc\n", false), (#"abc\z"#, "abc", true),
        (#"abc\Z"#, "abc\n", true), (#"\Aabc"#, "abc", true), (#"\Aabc"#, "xabc", false), ("^$", "", true),
        ("^$", "\n", true), ("^b$", "a\nb\nc", false), ("(?m)^b$", "a\nb\nc", true), ("(?m)^$", "a\n\nb", true),
        ("(?m)^$", "a\n", false), ("a^b", "ab", false), ("^^a$$", "a", true),
        // Word boundaries (ASCII word characters).
        (#"\bcat\b"#, "a cat sat", true), (#"\bcat\b"#, "concat", false), (#"\Bcat"#, "concat", true),
        (#"\b1\b"#, "a 1 b", true), (#"\b1"#, "a1", false), (#"\b"#, "", false), (#"\B"#, "", true),
        (#"\bé"#, " é", false), (#"cat\b"#, "cat.", true),
        // Groups and alternation.
        ("^(fix|feat):", "feat: x", true), ("^(fix|feat):", "chore: x", false), ("a(?:b|c)d", "acd", true),
        ("a(?:b|c)d", "aed", false), ("(?<kind>fix|feat)!", "fix!", true), ("(?P<k>a)b", "ab", true),
        ("(?'k'a)b", "ab", true), ("^(a|b|)$", "", true), ("x(a|bc|d)*y", "xabcdbcy", true), ("x(a|bc|d)*y", "xabcby", false),
        ("^ops|sre$", "xsre", true), ("^ops|sre$", "xops", false), ("a||b", "", true), ("(?#a comment)x", "x", true),
        ("((((a))))", "a", true), ("()", "", true), ("a(?|b|c)", "ac", true),
        // Quantifiers, nested, counted, lazy and possessive (the same yes/no answer as greedy).
        ("^a*$", "", true), ("^a+$", "", false), ("^ab?c$", "ac", true), ("^ab?c$", "abbc", false),
        ("^a{3}$", "aaa", true), ("^a{3}$", "aaaa", false), ("^a{2,}$", "aaaaa", true), ("^a{2,}$", "a", false),
        ("^a{2,3}$", "aaaa", false), ("^a{2,3}$", "aa", true), ("^a{,2}$", "aa", true), ("^a{0}b$", "b", true),
        ("^a*?b$", "aab", true), ("^a+?$", "aaa", true), ("^a??b$", "b", true), ("^a{1,2}?b$", "aab", true),
        ("^a++b$", "aab", true), ("^a*+$", "aaa", true), ("^(ab)+$", "ababab", true), ("^(ab)+$", "ababa", false),
        ("^(a|ab)(c|bcd)(d*)$", "abcd", true), ("^((a+)|b)+$", "aabab", true), ("^(a*)*$", "aaa", true),
        ("^(a*)+b$", "b", true), ("^(a?){3}a{3}$", "aaa", true), ("^(?:a|b){2}c{1,2}$", "bacc", true),
        ("^(x+x+)+y$", "xxxxy", true), ("^(x+x+)+y$", "xxxx", false), ("x{", "x{", true), ("a{1,2", "a{1,2", true),
        ("{}", "{}", true), ("a{,}", "a{,}", true), ("a]b}", "a]b}", true),
        // Case-insensitivity: (?i) for the rest of the group, (?i: ) for a group, (?-i) to turn it off.
        ("(?i)hello", "HeLLo", true), ("hello", "HELLO", false), ("(?i)^[a-c]+$", "ABC", true), ("(?i)[^a]", "A", false),
        ("a(?i:b)c", "aBc", true), ("a(?i:b)c", "aBC", false), ("(?i)a(?-i)b", "Ab", true), ("(?i)a(?-i)b", "AB", false),
        ("(a(?i)b)c", "aBc", true), ("(a(?i)b)c", "aBC", false), ("a(?i)b|c", "C", true), ("(?i)é", "É", true),
        ("(?i)k", "\u{212A}", true), ("(?i)\u{212A}", "k", true), ("(?i)ſ", "S", true), ("(?i)straße", "STRASSE", false),
        (#"(?i)\d"#, "a", false), ("(?im)^B$", "a\nb", true), ("(?is)a.B", "A\nb", true),
    ]

    @Test(arguments: RegexTests.matching)
    func matches(pattern: String, text: String, expected: Bool) throws {
        #expect(try CompiledRegex(pattern).matches(text) == expected)
    }

    /// Each refused construct, and a fragment its message must hold.
    static let refused: [(String, String)] = [
        (#"(a)\1"#, #"backreference \1 at offset 3 is not supported: rules are matched in time linear"#),
        (#"(?<n>a)\k<n>"#, #"backreference \k at offset 7 is not supported"#),
        (#"(a)\g1"#, #"backreference \g at offset 3 is not supported"#),
        ("(?P<n>a)(?P=n)", "backreference (?P= at offset 8 is not supported"),
        ("a(?=b)", "lookahead (?= at offset 1 is not supported"),
        ("a(?!b)", "negative lookahead (?! at offset 1 is not supported"),
        ("(?<=a)b", "lookbehind (?<= at offset 0 is not supported"),
        ("(?<!a)b", "negative lookbehind (?<! at offset 0 is not supported"),
        ("(?>a+)b", "atomic group (?> at offset 0 is not supported"),
        ("(?(1)a|b)", "conditional group (?( at offset 0 is not supported"),
        ("(?R)", "recursion (?R at offset 0 is not supported"),
        ("(a)(?1)", "recursion (?1 at offset 3 is not supported"),
        ("(a)(?-1)", "recursion (?- at offset 3 is not supported"),
        ("(?&n)", "recursion (?& at offset 0 is not supported"),
        ("(?P>n)", "recursion (?P> at offset 0 is not supported"),
        ("(*FAIL)", "backtracking control verb (* at offset 0 is not supported"),
        (#"\q"#, #"unknown or unsupported escape \q at offset 0"#),
        (#"a\K"#, #"unknown or unsupported escape \K at offset 1"#),
        (#"[\q]"#, #"unknown or unsupported escape \q at offset 1"#),
        (#"\p{L}"#, #"Unicode property class \p at offset 0 is not supported"#),
        ("a{1001}", "repetition {1001} at offset 1 is above the limit of 1000"),
        ("a{2,5000}", "repetition {2,5000} at offset 1 is above the limit of 1000"),
        ("(a{1000}){1000}", "more than 5000 instructions"),
        (#"(?:\w{1000}x){30}"#, "more than 5000 instructions"),
        ("(?x)a b", "flag 'x' (extended syntax"),
        ("(?w)a", "unknown or unsupported group syntax (?w at offset 0"),
        ("(ab", "the group opened at offset 0 is never closed: missing ')'"),
        ("a)", "unbalanced ')' at offset 1"),
        ("[ab", "the class opened at offset 0 is never closed: missing ']'"),
        ("*a", "quantifier '*' at offset 0 has nothing to repeat"),
        ("a|+b", "quantifier '+' at offset 2 has nothing to repeat"),
        ("(?i)?", "quantifier '?' at offset 4 has nothing to repeat"),
        ("a(?#c)*", "quantifier '*' at offset 6 follows something that cannot be repeated"),
        ("{2}", "quantifier '{' at offset 0 has nothing to repeat"),
        ("a**", "quantifier at offset 2 follows another quantifier"),
        ("a{2}{3}", "quantifier at offset 4 follows another quantifier"),
        ("^*", "quantifier at offset 1 follows an anchor or word boundary"),
        (#"\b+"#, "quantifier at offset 2 follows an anchor or word boundary"),
        ("a{3,2}", "repetition {3,2} at offset 1 has its minimum above its maximum"),
        ("[]", "empty class at offset 0"),
        ("[^]a", "empty class at offset 0"),
        ("x[z-a]", "reversed range z-a at offset 2"),
        (#"\"#, "the pattern ends with a lone backslash"),
        ("[a[b]]", "'[' at offset 2 inside a class: nested classes are not supported"),
        ("[a&&b]", "'&&' at offset 2 inside a class"),
        (#"[\d-z]"#, "follows a class such as \\d"),
        (#"[a-\d]"#, "the range at offset 1 ends in a class"),
        ("[[:alpha]]", "does not start a POSIX class"),
        ("[[:letters:]]", "unknown POSIX class [:letters:]"),
        (#"\x{D800}"#, "is not a Unicode scalar value (U+D800)"),
        (#"\x{110000}"#, "is not a Unicode scalar value"),
        (#"\u12"#, "needs four hexadecimal digits"),
        (#"\xg"#, "needs hexadecimal digits"),
        (#"\x{41"#, "needs hexadecimal digits and a closing '}'"),
        ("(?<1a>x)", "invalid group name at offset 3"),
        ("(?<a>x)(?<a>y)", "the group name 'a' at offset 10 is used twice"),
        ("(?#open", "the comment (?# at offset 0 is never closed"),
        (String(repeating: "(", count: 201) + String(repeating: ")", count: 201), "nested more than 200 deep"),
    ]

    @Test(arguments: RegexTests.refused)
    func refuses(pattern: String, message: String) {
        let error = #expect(throws: CompiledRegex.SyntaxError.self) { try CompiledRegex(pattern) }
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        #expect(error?.pattern == pattern)
        #expect(error?.description == "invalid regular expression /\(pattern)/: \(error?.message ?? "")")
    }

    @Test func theLimitsThemselvesAreAccepted() throws {
        #expect(try CompiledRegex("^a{1000}$").matches(String(repeating: "a", count: 1000)))
        #expect(try !CompiledRegex("^a{1000}$").matches(String(repeating: "a", count: 999)))
        #expect(try CompiledRegex(#"^\d{1,1000}$"#).matches("12345"))
        let nested = String(repeating: "(", count: 200) + "a" + String(repeating: ")", count: 200)
        #expect(try CompiledRegex(nested).matches("a"))
    }

    /// Generated patterns over the syntax both engines share, checked against Swift's `Regex` (on Unicode scalars,
    /// with simple word boundaries) on generated ASCII texts.
    @Test func agreesWithSwiftRegex() throws {
        var generator = RegexPatternGenerator(random: FuzzInput(seed: FuzzInput.seed))
        var compared = 0
        for _ in 0..<400 {
            let (ours, swift) = generator.pattern()
            let compiled = try CompiledRegex(ours)
            let reference = try Regex(swift).matchingSemantics(.unicodeScalar).wordBoundaryKind(.simple)
            for _ in 0..<4 {
                let text = generator.text()
                // Swift's simple word boundaries count digits as non-word characters (unlike its `\w`, and PCRE).
                if (ours.contains(#"\b"#) || ours.contains(#"\B"#)) && text.contains("1") { continue }
                compared += 1
                #expect(try compiled.matches(text) == text.contains(reference), "/\(ours)/ on \(text.debugDescription)")
            }
        }
        #expect(compared > 1000)
    }

    /// A long text for `pathologicalInputsAreLinear`, described briefly in the test's output rather than printed.
    struct LongInput: Sendable, CustomTestStringConvertible {
        var pattern: String
        var repeated: String
        var count: Int
        var prefix = ""
        var suffix = ""
        var expected: Bool

        var text: String { prefix + String(repeating: repeated, count: count) + suffix }
        var testDescription: String { "/\(pattern)/ on \(prefix.debugDescription) + \(repeated.debugDescription) × \(count) + \(suffix.debugDescription)" }
    }

    /// The review's inputs, which took Swift's `Regex` minutes to hours: each search visits at most two states per
    /// instruction per scalar (a state is followed once when added, and tried once against the next scalar).
    @Test(arguments: [
        LongInput(pattern: "^(a+)+$", repeated: "a", count: 5000, suffix: "b", expected: false),
        LongInput(pattern: "^(a+)+$", repeated: "a", count: 5000, expected: true),
        LongInput(pattern: "deploy.*failed", repeated: "x", count: 1 << 20, prefix: "deploy ", expected: false),
        LongInput(pattern: "deploy.*failed", repeated: "deploy ", count: (1 << 20) / 7, suffix: "failed", expected: true),
        LongInput(pattern: "(x+x+)+y", repeated: "x", count: 1 << 20, expected: false),
        LongInput(pattern: "(x+x+)+y", repeated: "x", count: 1 << 20, suffix: "y", expected: true),
        LongInput(pattern: #"(?i)^(\w+\s?)*$"#, repeated: "word ", count: 1 << 16, suffix: "!", expected: false),
    ])
    func pathologicalInputsAreLinear(input: LongInput) throws {
        let regex = try CompiledRegex(input.pattern)
        let text = input.text
        let (matches, steps) = regex.matchesCountingSteps(text)
        #expect(matches == input.expected)
        let bound = 2 * regex.program.instructions.count * (text.unicodeScalars.count + 1)
        #expect(steps <= bound, "\(steps) steps, bound \(bound)")
    }

    @Test func anAnchoredPatternStopsWhenNoStateIsLeft() throws {
        let regex = try CompiledRegex("^abc")
        let (matches, steps) = regex.matchesCountingSteps("abx" + String(repeating: "y", count: 100_000))
        #expect(!matches)
        #expect(steps < 20)
    }

    @Test func mutatedPatternsCompileOrAreRefusedWithoutCrashing() throws {
        var random = FuzzInput(seed: FuzzInput.seed)
        let seeds = ["^(fix|feat)!?:", #"[a-z\d_-]+\.(json|ya?ml)$"#, #"(?i)\bdeploy(ed)?\b.*\bfail"#, #"\x{41}[^\s]{2,5}?$"#]
        for _ in 0..<500 {
            let bytes = random.mutate(Array(random.pick(seeds).utf8))
            let pattern = String(decoding: bytes, as: UTF8.self)
            guard let regex = try? CompiledRegex(pattern) else { continue }
            _ = try regex.matches("deployed api: fix! a-b_1.yaml\n")
        }
    }
}
