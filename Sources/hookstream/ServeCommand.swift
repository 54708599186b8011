import ArgumentParser
import HookstreamCore
import HookstreamServer
import Logging
import NIOCore
import NIOPosix
import HookstreamSystemd
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `hookstream serve`: runs the daemon until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon."
    )

    @Option(name: .long, help: "The config file.")
    var config: String = "config/hookstream.yaml"

    @Option(name: .long, help: "Listen on HOST:PORT instead of server.listen (port 0 picks a free port).")
    var listen: String?

    @Option(name: .customLong("unix-socket"), help: "Unix socket path instead of server.unix_socket.path.")
    var unixSocket: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Flag(name: .customLong("no-watch"), help: "Reload the config file on SIGHUP only, not when it changes on disk.")
    var noWatch = false

    @Option(
        name: .customLong("log-format"),
        help: "text, json or journal (native journald fields). Default: journal when standard error is the journal, else text.")
    var logFormat: LogFormat?

    /// Bad arguments are usage errors (exit 64), not a bad config (78).
    func validate() throws {
        if let listen, ListenAddress(parsing: listen) == nil { throw ValidationError("--listen must be HOST:PORT, found '\(listen)'") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical, found '\(logLevel)'")
        }
    }

    func run() async throws {
        let listenAddress = listen.flatMap(ListenAddress.init(parsing:))
        // The command line's overrides hold for every reload too.
        let unixSocket = self.unixSocket
        let load: ConfigReloader.Loader = { (path) throws(ConfigError) in
            var configuration = try ConfigLoader.load(path: path)
            if let listenAddress { configuration.server.listen = listenAddress }
            if let unixSocket, configuration.unixSocketSource != nil {
                var socket = configuration.server.unixSocket ?? Configuration.UnixSocket(path: unixSocket)
                socket.path = unixSocket
                configuration.server.unixSocket = socket
            }
            return configuration
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info  // checked by validate()
        let format = logFormat ?? (JournalLogHandler.isStandardErrorTheJournal() ? .journal : .text)
        format.bootstrap(level: level)
        let logger = Logger(label: "hookstream")
        let configuration: Configuration
        do {
            configuration = try load(config)
        } catch {
            if format == .text {
                printToStandardError(error.description)
                printToStandardError("hookstream: refusing to start with an invalid config file")
            } else {
                // In the journal (or JSON lines) as a rejected reload is: `journalctl MESSAGE_ID=…` finds both.
                logger.critical(
                    "hookstream refuses to start with an invalid config file",
                    metadata: ["error": "\(error.description)", LogMessageID.metadataKey: "\(LogMessageID.configRejected)"])
            }
            throw ExitCode(ExitCodes.configuration)
        }
        for warning in configuration.warnings { logger.warning("\(warning.description)") }
        if unixSocket != nil, configuration.unixSocketSource == nil {
            printToStandardError("hookstream: --unix-socket given, but no source in \(config) has unix_socket: true")
            throw ExitCode(ExitCodes.configuration)
        }
        let openFiles = FileDescriptorLimit.raiseToHardLimit()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(MetricsBuckets.factory(registry: registry))

        // Sockets systemd passed (socket activation) replace the configured listeners of the same role.
        let sockets = InheritedSockets.fromEnvironment()
        let inherited = InheritedListeners(
            http: sockets.first(named: "http") ?? (sockets.byName.count == 1 ? sockets.first(named: "unknown") : nil),
            ingest: sockets.first(named: "ingest"))
        if !sockets.byName.isEmpty {
            logger.info("Using sockets passed by systemd", metadata: ["names": "\(sockets.byName.keys.sorted().joined(separator: ","))"])
            if let http = sockets.byName["http"], http.count > 1 {
                // A drop-in that adds ListenStream= to the socket unit without an empty ListenStream= line first.
                logger.warning(
                    "systemd passed several HTTP sockets; only the first is served (to change the address in a drop-in, reset the list with an empty ListenStream= line first)",
                    metadata: ["count": "\(http.count)"])
            }
            let unused = sockets.unused(besides: ["http", "ingest", "unknown"])
            if !unused.isEmpty { logger.warning("Ignoring passed sockets with unknown names", metadata: ["names": "\(unused.joined(separator: ","))"]) }
        }
        if inherited.ingest != nil, configuration.server.unixSocket == nil {
            logger.warning("An ingest socket was passed, but no source has unix_socket: true; it is not served")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.server.eventLoopThreads)
        defer { group.shutdownGracefully { _ in } }
        let app: Hookstream
        do {
            let store = try await StoreOpener.open(configuration, eventLoop: group.next(), logger: logger)
            app = try await Hookstream(configuration: configuration, group: group, logger: logger, inherited: inherited, metrics: registry, store: store)
        } catch let error as StoreError {
            logger.critical(
                "hookstream cannot open its store", metadata: ["error": "\(error.message)", LogMessageID.metadataKey: "\(LogMessageID.storeUnavailable)"])
            printToStandardError("hookstream: \(error.message)")
            // A store that cannot be used as configured will not start on a retry either (78: systemd does not
            // restart); one that failed to open (a full disk, an I/O error) may, once that is fixed (70: it does).
            throw ExitCode(error.kind == .unavailable || error.kind == .inUse ? ExitCodes.configuration : ExitCodes.failure)
        } catch let error as SettingsError {
            logger.critical("hookstream cannot start: its config cannot be put in force", metadata: ["error": "\(error.message)"])
            printToStandardError("\(config): error: \(error.message)")
            printToStandardError("hookstream: refusing to start with a config that cannot be put in force")
            throw ExitCode(ExitCodes.configuration)
        } catch {
            logger.critical("hookstream cannot start", metadata: ["error": "\(error)"])
            printToStandardError("hookstream: cannot start: \(error)")
            throw ExitCode(ExitCodes.failure)
        }
        do {
            logger.info(
                "hookstream starting",
                metadata: [
                    "config": "\(config)", "store": "\(configuration.store.kind.rawValue)", "rules": "\(configuration.rules.count)",
                    "store.path": "\(StoreOpener.location(configuration))",
                    "open_files": "\(openFiles)", "log_format": "\(format.rawValue)",
                ])
            let notifier = SystemdNotifier()
            let reloader = ConfigReloader(
                app: app, path: config, load: load, watchInterval: noWatch ? nil : .milliseconds(500),
                observer: ReloadNotifications.observer(app: app, notifier: notifier), logger: logger)
            var services: [any Service] = app.services + [reloader, StartupAnnouncement(app: app, logger: logger)]
            if let notifier {
                let reporter = SystemdStatusReporter(
                    notifier: notifier, clock: ContinuousClock(), isReady: { app.isReady }, status: { ReloadNotifications.status(app) },
                    logger: logger)
                // Pings only after READY=1 went out: both wait for the daemon to serve, and the first ping must not win.
                let announcement = reporter.announcement
                if let watchdog = SystemdWatchdog(
                    notifier: notifier, clock: ContinuousClock(), isReady: { announcement.isAnnounced }, probe: { await app.probe() }, logger: logger) {
                    services.append(watchdog)
                }
                // Last: the first told to shut down, so STOPPING=1 goes out at once.
                services.append(reporter)
            }
            var groupConfiguration = ServiceGroupConfiguration(
                // A service that fails (a socket that cannot be bound), or ends while the others run, stops them as
                // SIGTERM does: cancelled outright, the HTTP server did not end within the cancellation's bound, and
                // the process crashed.
                services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger)
            // Streams are ended by the server itself; anything still running after this is cancelled,
            // so a stop never takes more than about two seconds.
            groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(1500)
            groupConfiguration.maximumCancellationDuration = .milliseconds(300)
            try await ServiceGroup(configuration: groupConfiguration).run()
            logger.info("hookstream stopped")
        } catch {
            logger.critical("hookstream failed", metadata: ["error": "\(error)"])
            throw ExitCode(ExitCodes.failure)
        }
    }
}
