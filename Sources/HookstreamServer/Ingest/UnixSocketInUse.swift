#if canImport(Glibc)
import Glibc
#endif

/// The configured Unix socket path holds a socket that is not known to be stale: another process (another
/// hookstream, most likely) listens on it, or this one cannot tell. Replacing it would take that process's senders
/// away from it, and remove its file when this one stops.
struct UnixSocketInUse: Error, Sendable, CustomStringConvertible {
    enum Reason: Sendable, Equatable {
        /// A connection to it was accepted (or waits in its full backlog).
        case listening
        /// Connecting failed with this errno, which says neither "stale" nor "listening".
        case cannotTell(CInt)
        /// The path holds something that is not a socket (a file, a folder): not this daemon's to remove.
        case notASocket
        /// Another process holds the socket's lock file (``UnixSocketLock``): it is binding or serving the socket.
        case locked(lockPath: String)
        /// The lock file cannot be opened or locked: this errno.
        case lockUnavailable(lockPath: String, CInt)
    }

    let path: String
    let reason: Reason

    /// What to do about a lock file that cannot be opened or locked: one left by another user (a run as root, say)
    /// is that user's to remove; otherwise the folder is not writable, or the path is a link.
    private static func lockProblem(_ lockPath: String, socket: String, code: CInt) -> String {
        let what = "cannot lock \(lockPath), the lock of the Unix socket \(socket) (\(String(cString: strerror(code))))"
        var status = stat()
        if code == ELOOP { return "\(what): it is a symbolic link; remove it" }
        if code == EISDIR { return "\(what): it is a folder; remove it" }
        if lstat(lockPath, &status) == 0, status.st_uid != geteuid() {
            return "\(what): the file belongs to uid \(status.st_uid); remove it if no daemon of that user runs, or run as that user"
        }
        return "\(what): the socket's folder must be writable by this user"
    }

    var description: String {
        switch reason {
        case .listening:
            "another process is listening on the Unix socket \(path) (another hookstream?): stop it, or give this one another path (server.unix_socket.path, or --unix-socket)"
        case .cannotTell(let code):
            "cannot tell whether another process listens on the Unix socket \(path) (connecting to it failed: \(String(cString: strerror(code)))): remove the file if it is stale, or give this one another path (server.unix_socket.path, or --unix-socket)"
        case .notASocket:
            "\(path) is not a Unix socket (a file, a folder or a symbolic link is there): remove it, or give this one another path (server.unix_socket.path, or --unix-socket)"
        case .locked(let lockPath):
            "another process holds \(lockPath), the lock of the Unix socket \(path) (another hookstream?): stop it, or give this one another path (server.unix_socket.path, or --unix-socket)"
        case .lockUnavailable(let lockPath, let code):
            UnixSocketInUse.lockProblem(lockPath, socket: path, code: code)
        }
    }
}
