import Yams

/// Reads typed values out of a composed YAML document, collecting every problem with its position
/// instead of stopping at the first one.
final class ConfigReader {
    let file: String
    private(set) var diagnostics: [ConfigDiagnostic] = []
    /// Problems that do not refuse the file (a secret file every user can read).
    private(set) var warnings: [ConfigDiagnostic] = []
    /// Every path a rule reads, with its rule's source, checked once all sources are known.
    var pathUses: [(source: String, path: ValuePath, node: Node)] = []

    init(file: String) { self.file = file }

    func error(at node: Node?, _ message: String) {
        let mark = node?.mark
        diagnostics.append(ConfigDiagnostic(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    func error(at mark: Mark?, _ message: String) {
        diagnostics.append(ConfigDiagnostic(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    func warning(at node: Node?, _ message: String) {
        let mark = node?.mark
        warnings.append(ConfigDiagnostic(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message, severity: .warning))
    }

    /// Whether a scalar is YAML's null (`~`, `null`, or nothing), which we treat as "not given".
    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let s) = node, s.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// The mapping, or an error naming `what`; a null stands for an empty mapping.
    func mapping(_ node: Node, _ what: String) -> Node.Mapping? {
        if case .mapping(let m) = node { return m }
        if ConfigReader.isNull(node) { return Node.Mapping([]) }
        error(at: node, "\(what) must be a mapping, found \(kind(of: node))")
        return nil
    }

    /// Reports every key of `mapping` that is not in `allowed`, and every key that is not a plain string.
    /// - Returns: the entries keyed by their string keys, in file order.
    func entries(_ mapping: Node.Mapping, allowed: [String]?, in what: String) -> [(key: String, keyNode: Node, value: Node)] {
        var result: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                error(at: keyNode, "keys in \(what) must be strings")
                continue
            }
            if let allowed, !allowed.contains(key.string) {
                error(at: keyNode, "unknown key '\(key.string)' in \(what) (expected one of: \(allowed.joined(separator: ", ")))")
                continue
            }
            result.append((key.string, keyNode, value))
        }
        return result
    }

    func string(_ node: Node, _ what: String) -> String? {
        guard case .scalar(let s) = node, !ConfigReader.isNull(node) else {
            error(at: node, "\(what) must be a string, found \(kind(of: node))")
            return nil
        }
        return s.string
    }

    func int(_ node: Node, _ what: String, range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let s) = node, s.style == .plain, let value = Int(s.string.replacingUnderscores()) else {
            error(at: node, "\(what) must be an integer, found \(describe(node))")
            return nil
        }
        guard range.contains(value) else {
            error(at: node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    func bool(_ node: Node, _ what: String) -> Bool? {
        guard case .scalar(let s) = node, s.style == .plain else {
            error(at: node, "\(what) must be true or false, found \(describe(node))")
            return nil
        }
        switch s.string {
        case "true", "True", "TRUE", "yes", "on": return true
        case "false", "False", "FALSE", "no", "off": return false
        default:
            error(at: node, "\(what) must be true or false, found \(describe(node))")
            return nil
        }
    }

    /// The longest duration a setting takes, in milliseconds: 100 years, well within what the timers' nanosecond
    /// counts hold.
    static let longestDuration: Double = 36_500 * 86_400_000

    /// A duration: `500ms`, `15s`, `2m`, `1h`, `7d`, or a number of seconds.
    func duration(_ node: Node, _ what: String, minimum: Duration = .zero) -> Duration? {
        guard case .scalar(let s) = node, !ConfigReader.isNull(node) else {
            error(at: node, "\(what) must be a duration like 15s, found \(kind(of: node))")
            return nil
        }
        let text = String(s.string.trimmingSpaces())
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        var milliseconds: Double?
        if let seconds = Double(text) {
            milliseconds = seconds * 1000
        } else {
            for (suffix, scale) in units where text.hasSuffix(suffix) {
                if let n = Double(text.dropLast(suffix.count)), n >= 0 {
                    milliseconds = n * scale * 1000
                    break
                }
            }
        }
        guard let milliseconds, milliseconds.isFinite else {
            error(at: node, "\(what) must be a duration like 500ms, 15s, 2m, 1h or 7d, found '\(text)'")
            return nil
        }
        guard milliseconds <= ConfigReader.longestDuration else {
            error(at: node, "\(what) must be at most 36500d (100 years), found '\(text)'")
            return nil
        }
        let value = Duration.milliseconds(Int64(milliseconds))
        guard value >= minimum else {
            error(at: node, "\(what) must be at least \(minimum.configText), found '\(text)'")
            return nil
        }
        return value
    }

    /// A size in bytes: `1MiB`, `512KiB`, `10MB`, or a number of bytes.
    func byteSize(_ node: Node, _ what: String, range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let s) = node, !ConfigReader.isNull(node) else {
            error(at: node, "\(what) must be a size like 1MiB, found \(kind(of: node))")
            return nil
        }
        let text = String(s.string.trimmingSpaces())
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000),
            ("k", 1000), ("B", 1),
        ]
        var value: Int?
        if let n = Int(text.replacingUnderscores()) {
            value = n
        } else {
            for (suffix, scale) in units where text.hasSuffix(suffix) {
                if let n = Double(text.dropLast(suffix.count).trimmingSpaces()) {
                    let bytes = n * Double(scale)
                    // Past Int's range (or not a number) the range check below cannot be reached: report it as out of range.
                    value = bytes.isFinite && abs(bytes) < 1e18 ? Int(bytes) : (bytes < 0 ? Int.min : Int.max)
                    break
                }
            }
        }
        guard let value else {
            error(at: node, "\(what) must be a size like 64KiB or 1MiB, found '\(text)'")
            return nil
        }
        guard range.contains(value) else {
            error(at: node, "\(what) must be between \(range.lowerBound) and \(range.upperBound) bytes, found \(value)")
            return nil
        }
        return value
    }

    /// A sequence of strings; a single string stands for a one-element list.
    func stringList(_ node: Node, _ what: String) -> [(String, Node)]? {
        switch node {
        case .sequence(let seq):
            var out: [(String, Node)] = []
            for element in seq {
                if let s = string(element, "each entry of \(what)") { out.append((s, element)) }
            }
            return out
        case .scalar where !ConfigReader.isNull(node):
            return string(node, what).map { [($0, node)] }
        default:
            error(at: node, "\(what) must be a list of strings, found \(kind(of: node))")
            return nil
        }
    }

    func kind(of node: Node) -> String {
        switch node {
        case .scalar: return ConfigReader.isNull(node) ? "nothing (null)" : "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    private func describe(_ node: Node) -> String {
        if case .scalar(let s) = node, !ConfigReader.isNull(node) { return "'\(s.string)'" }
        return kind(of: node)
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
