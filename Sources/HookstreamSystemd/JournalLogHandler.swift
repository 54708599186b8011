public import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler writing to the systemd journal natively, with structured fields: `MESSAGE`, `PRIORITY`,
/// `SYSLOG_IDENTIFIER`, `CODE_FILE`, `CODE_LINE`, `CODE_FUNC`, a `MESSAGE_ID` for the lines that have one, and every
/// metadata value as its own field (`hookstream.topic` becomes `HOOKSTREAM_TOPIC`), so
/// `journalctl -u hookstream HOOKSTREAM_TOPIC=deploys/api` finds an event's lines. An entry the journal does not take
/// is written to standard error instead, so nothing is lost.
///
/// ```swift
/// let journal = JournalSocket()!
/// LoggingSystem.bootstrap { label in JournalLogHandler(label: label, journal: journal) }
/// ```
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let journal: JournalSocket
    private let identifier: String

    /// - Parameters:
    ///   - label: the logger's label.
    ///   - journal: the journal's socket, shared by every handler.
    ///   - identifier: `SYSLOG_IDENTIFIER=`.
    public init(label: String, journal: JournalSocket, identifier: String = "hookstream") {
        self.label = label
        self.journal = journal
        self.identifier = identifier
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = self.metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error { all["error"] = "\(error)" }
        let entry = JournalLogHandler.entry(
            level: event.level, message: event.message.description, metadata: all, identifier: identifier, file: event.file,
            function: event.function, line: event.line)
        if !journal.send(entry) {
            let text = "\(event.level) \(label): \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))\n"
            var standardError = StandardErrorLines()
            standardError.write(text)
        }
    }

    /// The encoded entry.
    static func entry(
        level: Logger.Level, message: String, metadata: Logger.Metadata, identifier: String, file: String, function: String, line: UInt
    ) -> [UInt8] {
        var entry = JournalEntry()
        entry.append("MESSAGE", message)
        entry.append("PRIORITY", String(priority(level)))
        entry.append("SYSLOG_IDENTIFIER", identifier)
        entry.append("CODE_FILE", file)
        entry.append("CODE_LINE", String(line))
        entry.append("CODE_FUNC", function)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            if key == "hookstream.message_id" {
                entry.append("MESSAGE_ID", "\(value)")
            } else if case .array(let values) = value {
                // A list becomes the field repeated, which journalctl matches value by value.
                let name = JournalEntry.fieldName(forMetadataKey: key)
                for element in values { entry.append(name, "\(element)") }
            } else {
                entry.append(JournalEntry.fieldName(forMetadataKey: key), "\(value)")
            }
        }
        return entry.bytes
    }

    /// syslog's priorities, as journald keeps them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Whether standard error is connected to the journal (`$JOURNAL_STREAM` names its device and inode), the
    /// condition under which systemd-aware daemons switch to the native protocol.
    public static func isStandardErrorTheJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
