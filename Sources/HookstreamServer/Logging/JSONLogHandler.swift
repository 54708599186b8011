import HookstreamCore
public import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler writing one JSON object per line to standard error (`--log-format json`), for log
/// shippers that read JSON: `time`, `level`, `label`, `message`, `source`, `file`, `line`, and the metadata.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error { all["error"] = "\(error)" }
        var members: [JSONValue.Member] = [
            .init("time", .number(String(WallClock.milliseconds()))), .init("level", .string(event.level.rawValue)),
            .init("label", .string(label)), .init("message", .string(event.message.description)), .init("source", .string(event.source)),
            .init("file", .string(event.file)), .init("line", .number(String(event.line))),
        ]
        for (key, value) in all.sorted(by: { $0.key < $1.key }) { members.append(.init(key, JSONLogHandler.json(value))) }
        let line = JSONValue.object(members).jsonText + "\n"
        var bytes = Array(line.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }

    /// A metadata value as JSON: a list as an array, a dictionary as an object (their text, `["1"]`, as a string
    /// would make a shipper parse the field a second time), the rest as strings.
    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let values): .object(values.sorted { $0.key < $1.key }.map { JSONValue.Member($0.key, json($0.value)) })
        }
    }
}
