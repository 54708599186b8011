import Logging
import NIOConcurrencyHelpers

/// Log lines a test reads, as `LEVEL: message`. A value, as the daemon's own handlers are (a logger copied and set to
/// another level leaves the original's alone); its copies share the lines.
struct CapturedLog: LogHandler {
    private let lines = NIOLockedValueBox<[String]>([])
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.withLockedValue { $0.append("\(event.level): \(event.message)") }
    }

    var all: [String] { lines.withLockedValue { $0 } }
}
