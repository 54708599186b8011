import Foundation

/// The real `hookstream` binary, started on port 0 and a temporary Unix socket, ready when it says so.
final class Daemon: Sendable {
    let child: ChildProcess
    let port: Int
    let socketPath: String
    let directory: URL

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var log: String { child.stderr }

    /// Starts the daemon.
    /// - Parameter config: YAML for the config file; `nil` runs the repository's `config/hookstream.yaml`.
    /// - Parameter directory: the working directory (reuse one to restart on the same store); a new one by default.
    /// - Parameter port: the port to listen on (reuse one to restart at the same address); any free one by default.
    /// - Parameter environment: variables added to the daemon's environment (secrets for `{ env: NAME }`).
    static func start(
        config: String? = nil, directory: URL? = nil, port fixedPort: Int = 0, arguments: [String] = [], environment: [String: String] = [:]
    ) async throws -> Daemon {
        let directory = try directory ?? TestEnvironment.makeTemporaryDirectory()
        // The default config keeps its SQLite file in ./var.
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("var"), withIntermediateDirectories: true)
        var configPath = TestEnvironment.defaultConfig
        if let config {
            configPath = directory.appendingPathComponent("hookstream.yaml").path
            try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        }
        let socketPath = directory.appendingPathComponent("run/hookstream.sock").path
        let expectsSocket = config?.contains("unix_socket") ?? true
        let socketArguments = expectsSocket ? ["--unix-socket", socketPath] : []
        let child = try ChildProcess(
            TestEnvironment.binary,
            ["serve", "--config", configPath, "--listen", "127.0.0.1:\(fixedPort)", "--log-level", "debug"] + socketArguments + arguments,
            environment: environment, directory: directory)
        var port: Int?
        try await waitUntil("the daemon to listen") {
            if !child.isRunning { throw HarnessError("the daemon exited early: \(child.stderr)") }
            let log = child.stderr
            if let match = log.firstMatch(of: /address=127\.0\.0\.1:(\d+) .*HTTP server listening/) {
                port = Int(match.1)
            } else if arguments.contains("journal") {
                // Logging to the journal, not to standard error: ask the kernel which port it listens on.
                port = try await listeningPort(of: child.pid)
                return port != nil
            }
            return port != nil && (!expectsSocket || log.contains("Unix socket listening"))
        }
        return Daemon(child: child, port: port!, socketPath: socketPath, directory: directory)
    }

    private init(child: ChildProcess, port: Int, socketPath: String, directory: URL) {
        self.child = child
        self.port = port
        self.socketPath = socketPath
        self.directory = directory
    }

    /// SIGTERM, then waits: returns the exit status and how long the stop took.
    @discardableResult
    func stop() async throws -> (status: Int32, duration: Duration) {
        let start = ContinuousClock.now
        child.signal(SIGTERM)
        let status: Int32
        do {
            status = try await child.waitForExit(timeout: .seconds(10))
        } catch {
            // What the daemon said last says where its stop was held up.
            let tail = log.split(separator: "\n").suffix(40).joined(separator: "\n")
            throw HarnessError("\(error); the daemon's last log lines:\n\(tail)")
        }
        return (status, ContinuousClock.now - start)
    }
}

/// The TCP port `pid` listens on, from `ss`; `nil` until it listens.
func listeningPort(of pid: Int32) async throws -> Int? {
    let listing = try await ChildProcess.run("/usr/bin/env", ["ss", "-ltnpH"])
    for line in listing.stdout.split(separator: "\n") where line.contains("pid=\(pid),") {
        if let match = line.firstMatch(of: /127\.0\.0\.1:(\d+)/) { return Int(match.1) }
    }
    return nil
}

/// Runs `body` with a started daemon and always stops it afterwards.
func withDaemon<T>(
    config: String? = nil, directory: URL? = nil, environment: [String: String] = [:], _ body: (Daemon) async throws -> T
) async throws -> T {
    let daemon = try await Daemon.start(config: config, directory: directory, environment: environment)
    do {
        let result = try await body(daemon)
        try await daemon.stop()
        return result
    } catch {
        _ = try? await daemon.stop()
        throw error
    }
}
