import HookstreamCore
#if canImport(Glibc)
import Glibc
#endif

/// Notices that a file changed on disk, by its identity and modification time, checked on a period.
///
/// A change is reported once the file has stayed the same for one more period (debounced), so an editor that
/// writes in several steps, or replaces the file by renaming a new one over it, causes one reload, of the finished
/// file. Polling a `stat` is cheap at this period and works across editors, renames, symlinked and bind-mounted
/// config folders alike, where change notifications miss some of these.
struct ConfigFileWatcher<C: Clock>: Sendable where C.Duration == Duration {
    /// What identifies one version of the file.
    struct Signature: Sendable, Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var modifiedNanoseconds: Int64
    }

    let path: String
    let interval: Duration
    let clock: C

    /// The file's signature now, `nil` when it cannot be read.
    static func signature(of path: String) -> Signature? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Signature(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec),
            modifiedNanoseconds: Int64(info.st_mtim.tv_nsec))
    }

    /// Calls `changed` each time the file has changed and settled, until the task is cancelled.
    func run(changed: @Sendable () async -> Void) async {
        var known = ConfigFileWatcher.signature(of: path)
        var candidate: Signature?
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: interval)
            } catch {
                return
            }
            let now = ConfigFileWatcher.signature(of: path)
            guard let now, now != known else {
                candidate = nil
                continue
            }
            if now == candidate {
                known = now
                candidate = nil
                await changed()
            } else {
                candidate = now  // changed since the last look: wait for it to settle
            }
        }
    }
}
