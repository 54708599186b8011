import ArgumentParser
import HookstreamServer
import HookstreamSystemd
import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How `serve` writes its log (`--log-format`).
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    /// Readable lines on standard error, control characters escaped.
    case text
    /// One JSON object per line on standard error.
    case json
    /// Native journald entries with structured fields (standard error if the journal cannot be reached).
    case journal

    /// Installs the handler for this format as swift-log's, at `level`.
    func bootstrap(level: Logger.Level) {
        switch self {
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler(label: label, stream: StandardErrorLines())
                handler.logLevel = level
                return handler
            }
        case .json:
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        case .journal:
            // A seam for tests: a journald listening somewhere other than the standard socket.
            let path = ProcessInfo.processInfo.environment["HOOKSTREAM_JOURNAL_SOCKET"] ?? JournalSocket.defaultPath
            guard let journal = JournalSocket(path: path) else {
                printToStandardError("hookstream: cannot open a socket for the journal at \(path); logging text to standard error")
                LogFormat.text.bootstrap(level: level)
                return
            }
            LoggingSystem.bootstrap { label in
                var handler = JournalLogHandler(label: label, journal: journal)
                handler.logLevel = level
                return handler
            }
        }
    }
}
