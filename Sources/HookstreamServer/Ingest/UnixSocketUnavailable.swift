import HookstreamCore
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The configured Unix socket cannot be made at its path: its folder cannot be created, or the kernel refuses to
/// bind it there. Says which setting and what to change, not Foundation's or NIO's own words.
struct UnixSocketUnavailable: Error, Sendable, CustomStringConvertible {
    let path: String
    let problem: String

    var description: String { "cannot make the Unix socket \(path) (server.unix_socket.path): \(problem)" }

    /// The reason a bind of `path` failed with `error`.
    init(path: String, bindError error: any Error) {
        self.path = path
        switch error {
        case let error as IOError:
            switch error.errnoCode {
            case EACCES, EPERM: problem = "this user may not create files in its folder: fix the folder's permissions, or choose another path"
            case EROFS: problem = "its folder is on a read-only file system: choose a path under a writable one (/run/hookstream, say)"
            case let code: problem = String(cString: strerror(code))
            }
        case is SocketAddressError:
            problem = "a Unix socket path is at most \(Configuration.UnixSocket.longestPath) bytes: choose a shorter one"
        default:
            problem = "\(error)"
        }
    }

    init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    /// Creates `folder` and the folders above it that are missing (with the umask's permissions).
    static func makeFolder(_ folder: String, for path: String) throws(UnixSocketUnavailable) {
        var prefix = folder.hasPrefix("/") ? "" : "."
        for component in folder.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o777) == 0 { continue }
            let code = errno
            var status = stat()
            if code == EEXIST, stat(prefix, &status) == 0 {
                if status.st_mode & S_IFMT == S_IFDIR { continue }
                throw UnixSocketUnavailable(path: path, problem: "\(prefix) is not a folder: choose another path")
            }
            let reason = code == EACCES ? "this user may not create it" : String(cString: strerror(code))
            throw UnixSocketUnavailable(path: path, problem: "cannot create the folder \(prefix) (\(reason)): create it, or choose another path")
        }
    }
}
