import Foundation

/// Expands `${NAME}` and `${NAME:-default}` in a config value, as a shell would: so that one file can say
/// `path: "${STATE_DIRECTORY:-./var}/hookstream.db"` and work both under systemd and from a checkout.
enum EnvironmentExpansion {
    struct Failure: Error {
        var message: String
    }

    static func expand(_ text: String, environment: [String: String]) -> Result<String, Failure> {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            out += rest[rest.startIndex..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                return .failure(Failure(message: "'${' is not closed by '}'"))
            }
            let inner = rest[open.upperBound..<close]
            let name: Substring
            let fallback: Substring?
            if let separator = inner.range(of: ":-") {
                name = inner[inner.startIndex..<separator.lowerBound]
                fallback = inner[separator.upperBound...]
            } else {
                name = inner
                fallback = nil
            }
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                return .failure(Failure(message: "'${\(inner)}' is not ${NAME} or ${NAME:-default}"))
            }
            if let value = environment[String(name)], !value.isEmpty {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                return .failure(Failure(message: "environment variable \(name) is not set (write ${\(name):-default} to give a default)"))
            }
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        return .success(out)
    }
}
