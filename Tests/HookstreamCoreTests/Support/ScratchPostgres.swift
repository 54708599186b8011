import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HookstreamCore

/// A throwaway PostgreSQL server for one test (`scripts/postgres-scratch`): its own cluster in a temporary folder,
/// reached only through its Unix socket, stopped when ``with(_:)`` returns. `scripts/test` installs PostgreSQL's
/// server.
final class ScratchPostgres: Sendable {
    let folder: String

    /// Settings that reach it as its superuser `hookstream`, in its `postgres` database.
    var settings: PostgresStore {
        var settings = PostgresStore()
        settings.host = folder
        settings.user = "hookstream"
        settings.database = "postgres"
        return settings
    }

    private init(folder: String) {
        self.folder = folder
    }

    /// Starts a server, runs `body` with it, and stops it, whatever `body` did.
    static func with<T: Sendable>(_ body: (ScratchPostgres) async throws -> T) async throws -> T {
        let server = ScratchPostgres(folder: try TemporaryFolder.make("pg").path + "/server")
        try await script("start", server.folder)
        do {
            let result = try await body(server)
            try? await script("stop", server.folder)
            return result
        } catch {
            try? await script("stop", server.folder)
            throw error
        }
    }

    /// Stops the server (its data stays), as an outage would.
    func stop() async throws {
        try await ScratchPostgres.script("stop", folder)
    }

    /// Starts it again on its data.
    func start() async throws {
        try await ScratchPostgres.script("start", folder)
    }

    /// Sends `signal` to the server and every process it started: `SIGSTOP` makes a server that answers nothing while
    /// its connections stay open, as one whose host vanished without a reset; `SIGCONT` brings it back.
    func signalAll(_ signal: Int32) async throws {
        let pidFile = try String(contentsOfFile: folder + "/data/postmaster.pid", encoding: .utf8)
        guard let first = pidFile.split(separator: "\n").first, let postmaster = pid_t(first) else {
            throw Failure(description: "no server pid in \(folder)/data/postmaster.pid")
        }
        let children = try await ScratchPostgres.run(["pgrep", "-P", "\(postmaster)"])
        for pid in [postmaster] + children.split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, signal) }
    }

    /// Runs `sql` through psql (the tests' view of the database, apart from the store's own connections).
    func psql(_ sql: String) async throws -> String {
        try await ScratchPostgres.run(["psql", "-X", "-q", "-A", "-t", "-h", folder, "-U", "hookstream", "-d", "postgres", "-c", sql])
    }

    private static func script(_ command: String, _ folder: String) async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        _ = try await run([root.appendingPathComponent("scripts/postgres-scratch").path, command, folder])
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `arguments` (looked up in `PATH`) to its end and returns what it printed. Spawned and reaped here, not by
    /// Foundation's `Process`, which here never saw the script end (it stayed a zombie, unreaped).
    @discardableResult
    private static func run(_ arguments: [String]) async throws -> String {
        let output = try TemporaryFolder.make("pg-output").appendingPathComponent("output").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, environ)
        guard spawned == 0 else { throw Failure(description: "cannot run \(arguments[0]): \(String(cString: strerror(spawned)))") }
        let deadline = ContinuousClock.now + .seconds(60)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            guard ContinuousClock.now < deadline else {
                kill(pid, SIGKILL)
                throw Failure(description: "\(arguments.joined(separator: " ")) did not end within 60 s")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let text = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        // Exited with 0: the low 7 bits (the signal) and the exit status in the next 8 are all zero.
        guard status == 0 else {
            throw Failure(description: "\(arguments.joined(separator: " ")) ended with status \(status): \(text)")
        }
        return text
    }
}
