/// The `data` of a rule's publish: a template, or a YAML mapping or sequence whose leaves are templates.
public indirect enum DataTemplate: Sendable {
    case template(Template)
    case object([(key: String, value: DataTemplate)])
    case array([DataTemplate])
    case literal(JSONValue)

    /// Renders to a JSON value; a lone placeholder keeps its type (`"{{ body }}"` is the whole body).
    public func render(in message: JSONValue) throws(TemplateError) -> JSONValue {
        switch self {
        case .template(let t): return try t.renderValue(in: message)
        case .literal(let v): return v
        case .array(let elements):
            var out: [JSONValue] = []
            for e in elements { out.append(try e.render(in: message)) }
            return .array(out)
        case .object(let members):
            var out: [JSONValue.Member] = []
            for m in members { out.append(.init(m.key, try m.value.render(in: message))) }
            return .object(out)
        }
    }

    /// The paths the placeholders read.
    var paths: [ValuePath] {
        switch self {
        case .template(let t): t.paths
        case .literal: []
        case .array(let elements): elements.flatMap(\.paths)
        case .object(let members): members.flatMap(\.value.paths)
        }
    }
}
