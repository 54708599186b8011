#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock(2)` on `<socket path>.lock`, held while this daemon binds and serves its Unix socket.
///
/// Probing the socket (``UnixSocketIngest/probe(_:)``) tells a stale file from a live one, but two daemons started in
/// the same instant could both find no listener, and the second would replace the socket the first had just bound.
/// The lock makes the probe and the bind one step: the second finds the lock taken and leaves the socket alone. The
/// kernel drops the lock when its process ends, however it ends. The file stays when released: removing it would let
/// a third process lock a new file while a second still holds the old one.
final class UnixSocketLock: Sendable {
    /// The lock file's path.
    let path: String
    private let descriptor: CInt

    /// Takes the lock for the socket at `socketPath`.
    /// - Throws: ``UnixSocketInUse`` when another process holds it, or it cannot be taken.
    init(socketPath: String) throws(UnixSocketInUse) {
        let path = socketPath + ".lock"
        // Not through a symbolic link: in a folder others may write to, one could point the lock anywhere.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw UnixSocketInUse(path: socketPath, reason: .lockUnavailable(lockPath: path, errno)) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            throw UnixSocketInUse(path: socketPath, reason: code == EWOULDBLOCK ? .locked(lockPath: path) : .lockUnavailable(lockPath: path, code))
        }
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)  // and with it the lock
    }
}
