import Foundation

/// A text template with `{{ path | filter | ... }}` placeholders, compiled once at config load.
///
/// A path starts at a root of the message (`body`, `header`, `query`, `form`, `method`, `path`, `text`, `source`,
/// `peer`, or a socket line's own fields) and walks into objects and arrays: `body.repository.name`,
/// `body.commits[0].id`. Header names are lower-case. Filters: `default: 'x'`, `lower`, `upper`, `slug`, `json`,
/// `truncate: N`.
///
/// ```swift
/// let t = try Template("demo/{{ body.channel | default: 'general' | slug }}")
/// try t.renderText(in: message)   // "demo/general" when the body has no channel
/// ```
public struct Template: Sendable, Hashable, CustomStringConvertible {
    enum Part: Sendable, Hashable {
        case literal(String)
        case expression(Expression)
    }

    struct Expression: Sendable, Hashable {
        var path: ValuePath
        var filters: [TemplateFilter]
        /// The placeholder's inside as written, for messages.
        var text: String

        func evaluate(in message: JSONValue) -> JSONValue? {
            var value = path.value(in: message)
            if value == .null { value = nil }
            for filter in filters { value = filter.apply(value) }
            return value
        }
    }

    let parts: [Part]
    /// The template as written.
    public let description: String

    /// Compiles `text`, or throws a ``TemplateError`` naming what is wrong.
    public init(_ text: String) throws(TemplateError) {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex {
                parts.append(.literal(String(rest[rest.startIndex..<open.lowerBound])))
            }
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.range(of: "}}") else {
                throw TemplateError(template: text, message: "'{{' is not closed by '}}'")
            }
            let inner = afterOpen[afterOpen.startIndex..<close.lowerBound]
            parts.append(.expression(try Template.parseExpression(inner, in: text)))
            rest = afterOpen[close.upperBound...]
        }
        if rest.contains("}}") {
            throw TemplateError(template: text, message: "'}}' without an opening '{{'")
        }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        self.parts = parts
        self.description = text
    }

    private static func parseExpression(_ inner: Substring, in text: String) throws(TemplateError) -> Expression {
        let pieces = Template.splitFilters(inner)
        let pathText = pieces[0].trimmingSpaces()
        guard !pathText.isEmpty else { throw TemplateError(template: text, message: "empty '{{ }}'") }
        let path: ValuePath
        do {
            path = try ValuePath(String(pathText))
        } catch {
            throw TemplateError(template: text, message: error.description)
        }
        var filters: [TemplateFilter] = []
        for piece in pieces.dropFirst() {
            filters.append(try parseFilter(piece.trimmingSpaces(), in: text))
        }
        return Expression(path: path, filters: filters, text: String(inner.trimmingSpaces()))
    }

    /// `inner` split at each `|` that is not inside a quoted value (`default: 'a|b'` is one filter).
    private static func splitFilters(_ inner: Substring) -> [Substring] {
        // Bytes: '|' and the quotes are ASCII, which never occurs inside another character's UTF-8.
        var pieces: [Substring] = []
        var start = inner.startIndex
        var quote: UInt8?
        let bytes = inner.utf8
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let byte = bytes[i]
            if let open = quote {
                if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                quote = byte
            } else if byte == UInt8(ascii: "|") {
                pieces.append(inner[start..<i])
                start = bytes.index(after: i)
            }
            i = bytes.index(after: i)
        }
        pieces.append(inner[start...])
        return pieces
    }

    private static func parseFilter(_ text: Substring, in template: String) throws(TemplateError) -> TemplateFilter {
        let name = text.prefix(while: { $0 != ":" }).trimmingSpaces()
        let argument: Substring? = text.contains(":") ? text.drop(while: { $0 != ":" }).dropFirst().trimmingSpaces() : nil
        func noArgument(_ filter: TemplateFilter) throws(TemplateError) -> TemplateFilter {
            guard argument == nil else { throw TemplateError(template: template, message: "'\(name)' takes no value") }
            return filter
        }
        switch name {
        case "default":
            guard let argument, !argument.isEmpty else {
                throw TemplateError(template: template, message: "'default' needs a value: default: 'text'")
            }
            return .default(try parseLiteral(argument, in: template))
        case "lower": return try noArgument(.lower)
        case "upper": return try noArgument(.upper)
        case "slug": return try noArgument(.slug)
        case "json": return try noArgument(.json)
        case "truncate":
            guard let argument, let count = Int(argument), count > 0 else {
                throw TemplateError(template: template, message: "'truncate' needs a length: truncate: 40")
            }
            return .truncate(count)
        case "":
            throw TemplateError(template: template, message: "empty filter after '|'")
        default:
            throw TemplateError(template: template, message: "unknown filter '\(name)' (known: \(TemplateFilter.names.joined(separator: ", ")))")
        }
    }

    private static func parseLiteral(_ literal: Substring, in text: String) throws(TemplateError) -> JSONValue {
        if let quote = literal.first, quote == "'" || quote == "\"" {
            guard literal.count >= 2, literal.last == quote else {
                throw TemplateError(template: text, message: "unterminated string \(literal)")
            }
            return .string(String(literal.dropFirst().dropLast()))
        }
        if let value = try? JSONParser.parse(String(literal)) { return value }
        throw TemplateError(template: text, message: "default value \(literal) must be quoted, a number, true, false or null")
    }

    /// The first `{name}` in `text` (single braces around a path-like name, `{sub}` and `{id}` say): written where a
    /// placeholder was meant, it would stay literal text and match or render nothing the writer expected.
    public static func lookalikePlaceholder(in text: some StringProtocol) -> Substring? {
        let text = Substring(text)
        var rest = text[...]
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(where: { $0 == "}" || $0 == "{" }) else { return nil }
            let inner = after[..<close].trimmingSpaces()
            if after[close] == "}", !inner.isEmpty,
                inner.allSatisfy({ $0.isLetter || $0.isNumber || "_.-[]".contains($0) })
            {
                return text[open...close]
            }
            rest = after[close...]
        }
        return nil
    }

    /// Whether the template is one placeholder and nothing else, so it can yield any JSON value.
    var singleExpression: Expression? {
        if parts.count == 1, case .expression(let e) = parts[0] { return e }
        return nil
    }

    /// Whether the template has no placeholder.
    public var isLiteral: Bool {
        parts.allSatisfy { if case .literal = $0 { return true } else { return false } }
    }

    /// The paths the placeholders read.
    var paths: [ValuePath] {
        parts.compactMap { if case .expression(let e) = $0 { return e.path } else { return nil } }
    }

    /// Renders the template to text; values that are not strings are inserted as JSON.
    /// - Throws: ``TemplateError`` when a placeholder has no value and no default.
    public func renderText(in message: JSONValue) throws(TemplateError) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .expression(let e): out += try value(of: e, in: message).templateText
            }
        }
        return out
    }

    /// Renders a topic. A value inserted next to literal text must stay one segment (no `/`, not empty, no
    /// wildcard or whitespace), so a payload cannot move an event outside the rule's topic prefix; a template that
    /// is one placeholder and nothing else may yield a whole topic (its rule's `allow_topics` bounds it).
    /// - Throws: ``TemplateError`` for a missing value or a value that is not one segment.
    public func renderTopic(in message: JSONValue) throws(TemplateError) -> String {
        if let e = singleExpression { return try value(of: e, in: message).templateText }
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .expression(let e):
                let text = try value(of: e, in: message).templateText
                if let problem = Template.segmentProblem(text) {
                    throw TemplateError(
                        template: description,
                        message: "'\(e.text)' is \(ValueTest.show(.string(text))), which \(problem); a value inserted into a topic must be one segment (the slug filter makes one)")
                }
                out += text
            }
        }
        return out
    }

    private static func segmentProblem(_ text: String) -> String? {
        if text.isEmpty { return "is empty" }
        for scalar in text.unicodeScalars {
            if scalar == "/" { return "contains '/'" }
            if scalar == "*" { return "contains '*'" }
            if scalar.value < 0x21 || scalar.value == 0x7F { return "contains whitespace or a control character" }
            // Printable ASCII needs no Unicode property lookup (a table search in the runtime, on every publish).
            if scalar.value >= 0x80 && scalar.properties.isWhitespace { return "contains whitespace or a control character" }
        }
        return nil
    }

    /// Renders to a JSON value: a lone placeholder keeps its value's type, anything else becomes a string.
    /// A lone placeholder with no value and no default yields `null`.
    public func renderValue(in message: JSONValue) throws(TemplateError) -> JSONValue {
        if let e = singleExpression { return e.evaluate(in: message) ?? .null }
        return .string(try renderText(in: message))
    }

    private func value(of e: Expression, in message: JSONValue) throws(TemplateError) -> JSONValue {
        if let value = e.evaluate(in: message) { return value }
        throw TemplateError(template: description, message: "'\(e.text)' has no value in the message and no default")
    }
}
