/// A path into a message: a root (`body`, `header`, `query`, `form`, `method`, `path`, `text`, `peer`, ...) and
/// the keys and array indexes below it, written `body.commits[0].id` (or `body.commits.0.id`).
///
/// Header names are case-insensitive: a path under `header` is lower-cased when it is parsed, and messages carry
/// lower-case header names.
public struct ValuePath: Sendable, Hashable, CustomStringConvertible {
    /// The components after parsing, the root first; an index is a component of digits.
    public let components: [Substring]
    /// ``components`` as strings, made once: every publish follows the rules' paths, and a key compared as a
    /// `Substring` (or made a `String` at each step) cost several times a `String`'s comparison.
    private let keys: [String]
    /// The path as written.
    public let description: String

    /// The first component: which part of the message the path reads.
    public var root: Substring { components[0] }

    /// Parses `text`, or throws a message saying what is wrong with it.
    public init(_ text: String) throws(ValuePath.ParseError) {
        var components: [Substring] = []
        for (position, piece) in text.split(separator: ".", omittingEmptySubsequences: false).enumerated() {
            // `commits[0][1]` is the key `commits`, then the indexes 0 and 1.
            var rest = piece
            let key = rest.prefix(while: { $0 != "[" })
            rest = rest.dropFirst(key.count)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "$" || $0 == "@" }) else {
                throw ParseError(path: text, message: position == 0 && key.isEmpty ? "a path starts with a root like body or header" : "'\(piece)' is not a key or key[index]")
            }
            components.append(key)
            while !rest.isEmpty {
                guard rest.first == "[", let close = rest.firstIndex(of: "]") else {
                    throw ParseError(path: text, message: "'\(piece)': an index is written [0]")
                }
                let index = rest[rest.index(after: rest.startIndex)..<close]
                guard !index.isEmpty, index.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    throw ParseError(path: text, message: "'\(piece)': an index is a non-negative number, like [0]")
                }
                components.append(index)
                rest = rest[rest.index(after: close)...]
            }
        }
        if components.first == "header", components.count > 1 {
            components[1] = Substring(components[1].lowercased())
        }
        self.components = components
        self.keys = components.map(String.init)
        self.description = text
    }

    /// The value at this path in `message`, or `nil` when there is none.
    public func value(in message: JSONValue) -> JSONValue? {
        message.value(atPath: keys)
    }

    /// A path that cannot be parsed.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "'\(path)' is not a path like body.commits[0].id: \(message)" }
    }
}
