import Foundation
import Synchronization

/// Folders the tests write to, under the system's temporary folder, removed when the test process exits: a plain
/// `swift test` leaves nothing behind in /tmp (`scripts/test` also gives each run a TMPDIR of its own and removes it).
enum TemporaryFolder {
    private static let made = Mutex<[URL]>([])
    private static let removalAtExit: Void = { atexit { TemporaryFolder.removeAll() } }()

    /// A new, empty folder named `prefix-XXXXXXXX`.
    static func make(_ prefix: String) throws -> URL {
        _ = removalAtExit
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        made.withLock { $0.append(url) }
        return url
    }

    private static func removeAll() {
        for url in made.withLock({ $0 }) { try? FileManager.default.removeItem(at: url) }
    }
}
