/// A filter in a template placeholder: `{{ body.name | lower | truncate: 20 }}`, applied left to right.
public enum TemplateFilter: Sendable, Hashable, CustomStringConvertible {
    /// The value when there is none (absent or null): `default: 'general'`.
    case `default`(JSONValue)
    case lower
    case upper
    /// Lower-case ASCII letters and digits, every other run of characters one `-`, none at either end.
    case slug
    /// The value's JSON encoding, as text.
    case json
    /// At most this many characters.
    case truncate(Int)

    /// The filters a placeholder may use, for messages.
    static let names = ["default", "lower", "upper", "slug", "json", "truncate"]

    /// Applies the filter; `nil` stands for "no value".
    func apply(_ value: JSONValue?) -> JSONValue? {
        switch self {
        case .default(let fallback):
            guard let value, value != .null else { return fallback }
            return value
        case .lower: return value.map { .string($0.templateText.lowercased()) }
        case .upper: return value.map { .string($0.templateText.uppercased()) }
        case .slug: return value.map { .string(TemplateFilter.slug($0.templateText)) }
        case .json: return value.map { .string($0.jsonText) }
        case .truncate(let count): return value.map { .string(String($0.templateText.prefix(count))) }
        }
    }

    static func slug(_ text: String) -> String {
        var out = ""
        var pendingDash = false
        for scalar in text.unicodeScalars {
            let isKept = (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9")
            let isUpper = scalar >= "A" && scalar <= "Z"
            if isKept || isUpper {
                if pendingDash && !out.isEmpty { out += "-" }
                pendingDash = false
                out.unicodeScalars.append(isUpper ? Unicode.Scalar(scalar.value + 32)! : scalar)
            } else {
                pendingDash = true
            }
        }
        return out
    }

    public var description: String {
        switch self {
        case .default(let value): "default: \(value.jsonText)"
        case .lower: "lower"
        case .upper: "upper"
        case .slug: "slug"
        case .json: "json"
        case .truncate(let count): "truncate: \(count)"
        }
    }
}
