/// The configured Unix socket path has a live socket: another process (another hookstream, most likely) accepts
/// connections on it. Replacing it would take that process's senders away from it, and remove its file when this
/// one stops.
struct UnixSocketInUse: Error, Sendable, CustomStringConvertible {
    let path: String

    var description: String {
        "another process is listening on the Unix socket \(path) (another hookstream?): stop it, or give this one another server.unix_socket.path"
    }
}
