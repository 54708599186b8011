import HookstreamCore
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The HTTP listener could not be bound: which address (`server.listen`), and what to do about the reason.
struct ListenError: Error, CustomStringConvertible {
    let address: ListenAddress
    let reason: String

    init(address: ListenAddress, underlying: any Error) {
        self.address = address
        guard let error = underlying as? IOError else {
            reason = "\(underlying)"
            return
        }
        switch error.errnoCode {
        case EADDRINUSE: reason = "another process listens there: stop it, or give server.listen (or --listen) another port"
        case EACCES: reason = "a port below 1024 needs privileges: use a higher one, or systemd's socket (hookstream.socket)"
        case EADDRNOTAVAIL: reason = "no interface of this host has that address"
        default: reason = String(cString: strerror(error.errnoCode))
        }
    }

    var description: String { "cannot listen on \(address.host):\(address.port) (server.listen): \(reason)" }
}
