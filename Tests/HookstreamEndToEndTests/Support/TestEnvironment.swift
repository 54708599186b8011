import Foundation
import Synchronization

/// Where the end-to-end tests find the built daemon, the repository's files and the Python clients.
enum TestEnvironment {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The built `hookstream` binary: `$HOOKSTREAM_BIN`, else `.build/debug/hookstream`.
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["HOOKSTREAM_BIN"], !path.isEmpty { return path }
        return packageRoot.appendingPathComponent(".build/debug/hookstream").path
    }

    /// A Python with httpx and httpx-sse: `$HOOKSTREAM_TEST_PYTHON`, else the virtualenv `scripts/test` makes.
    static var python: String {
        if let path = ProcessInfo.processInfo.environment["HOOKSTREAM_TEST_PYTHON"], !path.isEmpty { return path }
        return packageRoot.appendingPathComponent(".venv-test/bin/python3").path
    }

    static func client(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/Clients/\(name)").path
    }

    static var defaultConfig: String {
        packageRoot.appendingPathComponent("config/hookstream.yaml").path
    }

    /// A fresh temporary folder, removed when the test process exits (with whatever the daemons and clients left in
    /// it), so that a plain `swift test` leaves nothing in /tmp.
    static func makeTemporaryDirectory() throws -> URL {
        _ = removalAtExit
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hookstream-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        temporaryDirectories.withLock { $0.append(url) }
        return url
    }

    private static let temporaryDirectories = Mutex<[URL]>([])
    private static let removalAtExit: Void = {
        atexit {
            for url in TestEnvironment.temporaryDirectories.withLock({ $0 }) { try? FileManager.default.removeItem(at: url) }
        }
    }()
}

/// A failure of the test harness itself (a client that did not start, a deadline passed).
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes: readiness is observed, never assumed.
func waitUntil(timeout: Duration = .seconds(10), _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw HarnessError("timed out after \(timeout) waiting for \(what)")
}
