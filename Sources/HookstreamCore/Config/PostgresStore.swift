/// `store.postgres`: the PostgreSQL database of `store.kind: postgres`, which several hookstream instances may share.
///
/// ```yaml
/// store:
///   kind: postgres
///   postgres:
///     host: db.internal            # or a socket folder: /var/run/postgresql (the default)
///     port: 5432
///     user: hookstream
///     password: { env: PGPASSWORD }  # any secret form; none for peer or trust authentication
///     database: hookstream
///     tls: require                 # disable | prefer | require (TCP only)
/// ```
public struct PostgresStore: Sendable, Hashable {
    /// How a TCP connection uses TLS.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, plain otherwise; the certificate is not checked (as libpq's `sslmode=prefer`:
        /// opportunistic encryption, which a server's self-signed default certificate allows).
        case prefer
        /// TLS, or no connection; the server's certificate is checked against the system's trusted roots.
        case require
    }

    /// A host name or address; a value starting with `/` is the folder of the server's Unix socket, as for libpq.
    public var host: String = "/var/run/postgresql"
    public var port: Int = 5432
    public var user: String = "hookstream"
    /// The password, if the server asks for one (read from its secret form when the file is read).
    public var password: String?
    /// The database; the user's name when not given.
    public var database: String?
    public var tls: TLSMode = .prefer

    public init() {}

    /// Whether ``host`` names a Unix socket folder.
    public var usesUnixSocket: Bool { host.hasPrefix("/") }

    /// The socket file PostgreSQL listens on in the ``host`` folder: `.s.PGSQL.<port>`.
    public var unixSocketPath: String { host + "/.s.PGSQL.\(port)" }

    /// Where the store is, for log lines and errors: no password.
    public var location: String {
        "postgresql://\(user)@\(usesUnixSocket ? "[\(host)]" : host):\(port)/\(database ?? user)"
    }
}

extension PostgresStore: CustomStringConvertible {
    /// Where the store is and how it connects, never the password (a value interpolated into a log line).
    public var description: String {
        "PostgresStore(\(location), password: \(password == nil ? "none" : "<hidden>"), tls: \(tls.rawValue))"
    }
}
