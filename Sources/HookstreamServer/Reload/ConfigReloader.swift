public import HookstreamCore
public import Logging
import NIOConcurrencyHelpers
public import ServiceLifecycle
import UnixSignals
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reloads the config file on SIGHUP (`systemctl reload`) and when the file changes on disk.
///
/// A valid file is put in force at once (``Hookstream/apply(_:)``) and logged as `config reloaded`; an invalid
/// one is logged as `config rejected`, each problem on its own line as `FILE:LINE:COLUMN: error: message`, and the
/// running configuration stays. Reloads run one at a time.
///
/// ```swift
/// let reloader = ConfigReloader(app: app, path: "config/hookstream.yaml", load: { try ConfigLoader.load(path: $0) }, logger: logger)
/// ```
public final class ConfigReloader: Service, Sendable {
    /// Reads and validates the file (with any command-line overrides applied).
    public typealias Loader = @Sendable (String) throws(ConfigError) -> Configuration

    /// Told about each reload, for readiness protocols (systemd's `RELOADING=1`, then `READY=1`).
    public struct Observer: Sendable {
        public var willReload: @Sendable () -> Void
        public var didReload: @Sendable (Result<ReloadOutcome, ConfigError>) -> Void

        public init(
            willReload: @escaping @Sendable () -> Void = {},
            didReload: @escaping @Sendable (Result<ReloadOutcome, ConfigError>) -> Void = { _ in }
        ) {
            self.willReload = willReload
            self.didReload = didReload
        }
    }

    /// Why a reload happens.
    public enum Trigger: String, Sendable {
        case signal = "SIGHUP"
        case fileChanged = "file changed"
    }

    private let app: Hookstream
    private let path: String
    private let load: Loader
    private let watchInterval: Duration?
    private let observer: Observer
    private let logger: Logger
    /// The text of the file last put in force, so that a file touched but not changed is not reloaded.
    private let appliedText = NIOLockedValueBox<Data?>(nil)
    /// Whether the last reload was rejected: the file put back as it runs is then worth a line in the log, as the
    /// last one said "config rejected".
    private let lastWasRejected = NIOLockedValueBox(false)
    /// The text a SIGHUP last reloaded, applied or rejected, until the watcher reports a change: an edit followed by
    /// SIGHUP is seen by the watcher too, and was reloaded (or rejected, and logged) twice.
    private let reloadedBySignal = NIOLockedValueBox<Data?>(nil)

    /// - Parameters:
    ///   - app: the running daemon.
    ///   - path: the config file.
    ///   - load: reads and validates it.
    ///   - watchInterval: how often the file is checked for changes; `nil` reloads on SIGHUP only.
    public init(
        app: Hookstream, path: String, load: @escaping Loader, watchInterval: Duration? = .milliseconds(500), observer: Observer = Observer(),
        logger: Logger
    ) {
        self.app = app
        self.path = path
        self.load = load
        self.watchInterval = watchInterval
        self.observer = observer
        self.logger = logger
        appliedText.withLockedValue { $0 = FileManager.default.contents(atPath: path) }
    }

    public func run() async {
        let (triggers, continuation) = AsyncStream.makeStream(of: Trigger.self, bufferingPolicy: .bufferingNewest(1))
        let path = self.path
        let interval = self.watchInterval
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) { continuation.yield(.signal) }
                }
                if let interval {
                    group.addTask {
                        await ConfigFileWatcher(path: path, interval: interval, clock: ContinuousClock()).run { continuation.yield(.fileChanged) }
                    }
                }
                group.addTask {
                    for await trigger in triggers { await self.reload(trigger) }
                }
            }
        }
        continuation.finish()
    }

    /// Reloads now; returns what happened. Only ``run()`` calls it, one reload at a time.
    @discardableResult
    func reload(_ trigger: Trigger) async -> Result<ReloadOutcome, ConfigError> {
        do {
            let text = FileManager.default.contents(atPath: path)
            if trigger == .fileChanged, let text, text == reloadedBySignal.withLockedValue({ handled in defer { handled = nil }; return handled }) {
                logger.debug("config file change already reloaded by SIGHUP; not reloaded again", metadata: ["config": "\(path)"])
                return .success(ReloadOutcome(streamsEnded: 0, needsRestart: []))
            }
            if trigger == .signal { reloadedBySignal.withLockedValue { $0 = text } }
            if trigger == .fileChanged, let text, text == appliedText.withLockedValue({ $0 }) {
                if lastWasRejected.withLockedValue({ rejected in defer { rejected = false }; return rejected }) {
                    logger.info(
                        "config file back to the running configuration (the rejected change is gone); nothing to reload",
                        metadata: ["config": "\(path)"])
                } else {
                    logger.info("config file saved without a change; not reloaded (SIGHUP re-reads the files it names, such as certificates)", metadata: ["config": "\(path)"])
                }
                return .success(ReloadOutcome(streamsEnded: 0, needsRestart: []))
            }
            observer.willReload()
            let result: Result<ReloadOutcome, ConfigError>
            do throws(ConfigError) {
                let configuration = try load(path)
                let outcome: ReloadOutcome
                do {
                    outcome = try await app.apply(configuration)
                } catch {
                    throw ConfigError(diagnostics: [ConfigDiagnostic(file: path, line: 1, column: 1, message: "cannot put the config in force: \(error)")])
                }
                appliedText.withLockedValue { $0 = text }
                lastWasRejected.withLockedValue { $0 = false }
                logger.info(
                    "config reloaded",
                    metadata: [
                        "trigger": "\(trigger.rawValue)", "config": "\(path)", "rules": "\(configuration.rules.count)",
                        "sources": "\(configuration.sources.count)", "tokens": "\(configuration.tokens.count)",
                        "streams_ended": "\(outcome.streamsEnded)", LogMessageID.metadataKey: "\(LogMessageID.reloaded)",
                    ])
                for warning in configuration.warnings { logger.warning("\(warning.description)") }
                if !outcome.needsRestart.isEmpty {
                    logger.warning(
                        "config reloaded, but some changes take effect only after a restart",
                        metadata: ["settings": "\(outcome.needsRestart.joined(separator: ", "))"])
                }
                result = .success(outcome)
            } catch {
                lastWasRejected.withLockedValue { $0 = true }
                for diagnostic in error.diagnostics { logger.error("\(diagnostic.description)") }
                logger.error(
                    "config rejected; the running configuration stays",
                    metadata: [
                        "trigger": "\(trigger.rawValue)", "config": "\(path)", "problems": "\(error.diagnostics.count)",
                        LogMessageID.metadataKey: "\(LogMessageID.configRejected)",
                    ])
                result = .failure(error)
            }
            observer.didReload(result)
            return result
        }
    }
}
