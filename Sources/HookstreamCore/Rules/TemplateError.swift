/// A template that cannot be compiled, or a placeholder without a value when rendering.
public struct TemplateError: Error, Sendable, CustomStringConvertible {
    public var template: String
    public var message: String
    public var description: String { "template \"\(template)\": \(message)" }
}
