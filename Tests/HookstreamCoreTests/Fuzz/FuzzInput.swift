import Foundation

/// Generated inputs for the fuzz tests: a seeded generator (so a failure can be replayed by its seed) and the
/// mutations that find parser bugs: byte flips, cuts, splices, deep nesting, huge strings, invalid UTF-8, and
/// numbers at the limits.
struct FuzzInput: RandomNumberGenerator {
    private var state: UInt64

    /// Iterations per fuzz test: `HOOKSTREAM_FUZZ_ITERATIONS`, 10,000 by default (the suite's floor).
    static var iterations: Int {
        ProcessInfo.processInfo.environment["HOOKSTREAM_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 10_000
    }

    /// The seed: `HOOKSTREAM_FUZZ_SEED`, else a fixed one, so CI runs the same inputs every time.
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["HOOKSTREAM_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x5EED_F00D
    }

    init(seed: UInt64) { state = seed }

    /// SplitMix64.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }

    mutating func pick<T>(_ choices: [T]) -> T { choices[Int.random(in: 0..<choices.count, using: &self)] }

    /// Pieces that parsers of JSON, YAML and templates treat specially.
    static let tokens: [[UInt8]] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "\\u0000", "{{", "}}", "|", "'", "-", "- ", "\n", "\r\n",
        "\t", " ", "#", "&a", "*a", "!!str", "---", "...", "1e309", "-0", "0.0e-400", "123456789012345678901234567890", "-9223372036854775809",
        "18446744073709551616", "1.7976931348623157e308", "4.9e-324", "NaN", "Infinity", "true", "null", "~", "default: 'x'", "slug", "truncate: 999999999999",
        "body.", "header.", "[0]", "[99999999999999999999]", "..", "/", "*", "**", "\u{0}", "é", "😀", "\u{202E}",
    ].map { Array($0.utf8) }

    /// Bytes that are not UTF-8 on their own.
    static let invalidUTF8: [[UInt8]] = [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80]]

    /// A mutation of `seed`: a few edits of the kinds above.
    mutating func mutate(_ seed: [UInt8]) -> [UInt8] {
        var bytes = seed
        for _ in 0..<Int.random(in: 1...4, using: &self) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &self)
            switch Int.random(in: 0..<9, using: &self) {
            case 0 where !bytes.isEmpty:  // flip a byte
                let i = Int.random(in: 0..<bytes.count, using: &self)
                bytes[i] ^= UInt8.random(in: 1...255, using: &self)
            case 1:  // insert a special token
                bytes.insert(contentsOf: pick(FuzzInput.tokens), at: at)
            case 2:  // cut a range
                let end = min(bytes.count, at + Int.random(in: 1...32, using: &self))
                if at < end { bytes.removeSubrange(at..<end) }
            case 3:  // duplicate a range
                let end = min(bytes.count, at + Int.random(in: 1...64, using: &self))
                if at < end { bytes.insert(contentsOf: bytes[at..<end], at: end) }
            case 4:  // invalid UTF-8
                bytes.insert(contentsOf: pick(FuzzInput.invalidUTF8), at: at)
            case 5 where chance(10):  // deep nesting
                let depth = pick([100, 600, 5_000, 50_000])
                let (open, close) = pick([("[", "]"), ("{\"a\":", "}"), ("- ", ""), ("{{ ", " }}")])
                bytes.insert(contentsOf: Array(String(repeating: open, count: depth).utf8) + Array(String(repeating: close, count: depth).utf8), at: at)
            case 6 where chance(10):  // a huge string
                bytes.insert(contentsOf: Array(repeating: UInt8(ascii: pick(["a", " ", "\\", "{"])), count: pick([70_000, 1 << 20])), at: at)
            case 7:  // truncate
                bytes.removeSubrange(at..<bytes.count)
            default:  // a random byte
                bytes.insert(UInt8.random(in: 0...255, using: &self), at: at)
            }
        }
        return bytes
    }
}
