import Foundation

/// A text template with `{{ path | default: 'value' }}` placeholders, compiled once at config load.
///
/// A path is dotted: its first component names a root of the message (`body`, `header`, `topic`,
/// `event`, `data`, `source`), the rest walk into objects and arrays (`body.repository.name`,
/// `body.commits.0.id`). `header` names are lower-case.
///
/// ```swift
/// let t = try Template("demo/{{ body.channel | default: 'general' }}")
/// try t.renderText(in: context)   // "demo/general" when the body has no channel
/// ```
public struct Template: Sendable, Hashable, CustomStringConvertible {
    enum Part: Sendable, Hashable {
        case literal(String)
        case expression(Expression)
    }

    struct Expression: Sendable, Hashable {
        var path: [Substring]
        var fallback: JSONValue?
        var text: String
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
        let pieces = inner.split(separator: "|", omittingEmptySubsequences: false)
        let pathText = pieces[0].trimmingSpaces()
        guard !pathText.isEmpty else { throw TemplateError(template: text, message: "empty '{{ }}'") }
        let path = pathText.split(separator: ".", omittingEmptySubsequences: false)
        for component in path {
            guard !component.isEmpty,
                component.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
            else {
                throw TemplateError(template: text, message: "'\(pathText)' is not a path like body.a.b")
            }
        }
        var fallback: JSONValue?
        for filter in pieces.dropFirst() {
            let f = filter.trimmingSpaces()
            guard f.hasPrefix("default") else {
                let name = f.prefix(while: { $0 != ":" }).trimmingSpaces()
                throw TemplateError(template: text, message: "unknown filter '\(name)' (known: default)")
            }
            let argument = f.dropFirst("default".count).trimmingSpaces()
            guard argument.hasPrefix(":") else {
                throw TemplateError(template: text, message: "'default' needs a value: default: 'text'")
            }
            fallback = try parseLiteral(argument.dropFirst().trimmingSpaces(), in: text)
        }
        return Expression(path: path, fallback: fallback, text: String(inner.trimmingSpaces()))
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

    /// Whether the template is one placeholder and nothing else, so it can yield any JSON value.
    var singleExpression: Expression? {
        if parts.count == 1, case .expression(let e) = parts[0] { return e }
        return nil
    }

    /// Whether the template has no placeholder.
    public var isLiteral: Bool {
        parts.allSatisfy { if case .literal = $0 { return true } else { return false } }
    }

    /// Renders the template to text; values that are not strings are inserted as JSON.
    /// - Throws: ``TemplateError`` when a placeholder has no value and no default.
    public func renderText(in context: JSONValue) throws(TemplateError) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .expression(let e): out += try Template.value(of: e, in: context, template: description).templateText
            }
        }
        return out
    }

    /// Renders to a JSON value: a lone placeholder keeps its value's type, anything else becomes a string.
    /// A lone placeholder with no value and no default yields `null`.
    public func renderValue(in context: JSONValue) throws(TemplateError) -> JSONValue {
        if let e = singleExpression {
            return context.value(atPath: e.path) ?? e.fallback ?? .null
        }
        return .string(try renderText(in: context))
    }

    static func value(of e: Expression, in context: JSONValue, template: String) throws(TemplateError) -> JSONValue {
        if let value = context.value(atPath: e.path), value != .null { return value }
        if let fallback = e.fallback { return fallback }
        throw TemplateError(template: template, message: "'\(e.text)' has no value in the message and no default")
    }
}
