#if canImport(Glibc)
import Glibc
#endif

/// The runtime configuration: the YAML file validated and compiled (rules, topic patterns, secrets resolved).
///
/// Built by ``ConfigLoader``; every field has the default the README documents.
public struct Configuration: Sendable {
    /// The HTTP listener and the Unix socket.
    public struct Server: Sendable {
        public var listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8080)
        public var unixSocket: UnixSocket?
        /// Largest request body accepted (`server.limits.body_bytes`).
        public var bodyLimit: Int = 1 << 20
        /// Request body bytes held at once across every connection, before their requests are answered
        /// (`server.limits.buffered_bodies`): past it a request is refused with `503 server_busy`.
        public var bufferedBodiesLimit: Int = 256 << 20
        /// Bytes of replay pages held at once across every resuming stream (`server.limits.replay_bytes`): past it a
        /// replay waits for room instead of reading on.
        public var replayBytesLimit: Int = 64 << 20
        /// How long a request may take to arrive, head and body, from its first byte; a new connection's first request
        /// (and, with TLS, its handshake) counts from the connection's start (`server.limits.request_timeout`).
        public var requestTimeout: Duration = .seconds(30)
        /// How long a connection may stay open with no request in progress and no answer owed; an event stream is
        /// never idle (`server.limits.idle_timeout`).
        public var idleTimeout: Duration = .seconds(60)
        /// The steps one message's regex searches may take together (`server.limits.regex_steps`, ``RegexBudget``).
        public var regexSteps: Int = RegexBudget.defaultLimit
        /// The streams one HTTP/2 connection may have open at once (`server.limits.h2_streams`), announced in its
        /// SETTINGS: a client that opens more anyway loses the connection (swift-nio-http2 answers GOAWAY with
        /// PROTOCOL_ERROR); browsers wait for a stream to close. nginx's default.
        public var http2Streams: Int = 128
        /// Event-loop threads for HTTP (`server.event_loop_threads`); one is best on small machines.
        public var eventLoopThreads: Int = 1
        /// `server.hosts`: the names besides `localhost` and IP addresses a cleartext listener answers to (``HostAllowList``).
        public var hosts = HostAllowList()
        /// `server.tls`: the listener speaks TLS (with HTTP/2 and HTTP/1.1 by ALPN) when set.
        public var tls: TLS?
        public init() {}
    }

    /// `server.tls`: the certificate chain and its private key, as PEM text (checked when the config is read).
    public struct TLS: Sendable, Hashable {
        /// The certificate, then any intermediates.
        public var certificateChainPEM: String
        public var privateKeyPEM: String

        public init(certificateChainPEM: String, privateKeyPEM: String) {
            self.certificateChainPEM = certificateChainPEM
            self.privateKeyPEM = privateKeyPEM
        }
    }

    /// `server.unix_socket`.
    public struct UnixSocket: Sendable, Hashable {
        /// The longest path Linux binds a Unix socket at, in bytes (`sun_path` holds it and its NUL).
        public static let longestPath = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

        public var path: String
        /// File mode of the socket, `0o660` by default.
        public var mode: UInt32 = 0o660
        /// The socket file's owner (`owner:`, a user name or uid), when it is to be changed.
        public var owner: UInt32?
        /// The socket file's group (`group:`, a group name or gid), when it is to be changed.
        public var group: UInt32?
        /// Longest accepted line in bytes.
        public var lineLimit: Int = 1 << 20
        public init(path: String) { self.path = path }
    }

    /// `streams`: how SSE streams behave.
    public struct Streams: Sendable {
        /// Period of heartbeat comments.
        public var heartbeat: Duration = .seconds(15)
        /// The `retry:` sent on connect.
        public var retry: Duration = .seconds(3)
        /// Events a subscriber may have pending before it is cut.
        public var queue: Int = 1024
        /// At shutdown, streams are told to reconnect after a delay spread over this long (`streams.drain`).
        public var drain: Duration = .seconds(5)
        public init() {}
    }

    /// `store`.
    public struct Store: Sendable {
        public enum Kind: String, Sendable, CaseIterable {
            case memory
            case sqlite
            /// A PostgreSQL database, which several instances may share (`store.postgres`).
            case postgres
        }
        public var kind: Kind = .sqlite
        /// `store.postgres`: where the PostgreSQL store is, for `kind: postgres`.
        public var postgres: PostgresStore?
        /// The SQLite file (`store.path`), `${VAR}` and `${VAR:-default}` expanded.
        public var path: String = "./var/hookstream.db"
        /// `store.sync`.
        public var synchronous: SQLiteEventStore.Synchronous = .normal
        /// `store.retention`.
        public var retention = Retention()
        /// How often retention runs (`store.retention.interval`).
        public var pruneInterval: Duration = .seconds(60)
        public init() {}
    }

    /// A declared source.
    public struct Source: Sendable, Hashable {
        public enum Kind: Sendable, Hashable {
            /// `POST /hooks/<name>`.
            case webhook
            /// Lines on the Unix socket.
            case unixSocket
        }
        public var name: String
        public var kind: Kind
        /// The signature every webhook of this source must carry (`verify:`); `nil` accepts unsigned ones.
        public var verifier: WebhookVerifier?
        /// Where a delivery's id is, for answering redeliveries without publishing again (`dedupe:`, or the
        /// preset's); `nil` turns deduplication off.
        public var deliveryID: DeliveryIDLocation?
        /// How long a delivery id is remembered (`dedupe.window`).
        public var deliveryWindow: Duration = .seconds(24 * 3600)
        /// How many webhooks the source takes (`rate_limit:`); `nil`: no limit.
        public var rateLimit: RateLimit?
        /// Unix-socket peers allowed by user id (`allow_uids`); with ``allowedGIDs``, `nil` for both allows any.
        public var allowedUIDs: Set<UInt32>?
        /// Unix-socket peers allowed by group id (`allow_gids`).
        public var allowedGIDs: Set<UInt32>?

        public init(name: String, kind: Kind) {
            self.name = name
            self.kind = kind
        }

        /// Whether a Unix-socket peer with these credentials may send to this source: its uid in `allow_uids`, or its
        /// primary group or one of its supplementary `groups` in `allow_gids`.
        public func allowsPeer(uid: UInt32, gid: UInt32, groups: [UInt32] = []) -> Bool {
            if allowedUIDs == nil && allowedGIDs == nil { return true }
            if allowedUIDs?.contains(uid) == true { return true }
            guard let allowedGIDs else { return false }
            return allowedGIDs.contains(gid) || groups.contains(where: allowedGIDs.contains)
        }
    }

    /// `auth`, besides its static tokens (``tokens``).
    public struct Auth: Sendable {
        /// The cookie a browser's `EventSource` sends its token in (`auth.cookie`).
        public var cookie: String = "hookstream_token"
        /// Concurrent streams one token (or one JWT subject) may hold; past it, `429` (`auth.max_streams_per_token`).
        /// `nil` (the default) sets no cap: a static token is often shared by many readers (a wall dashboard).
        public var maxStreamsPerToken: Int?
        /// How long a ticket from `POST /tickets` may wait to be used (`auth.ticket_ttl`).
        public var ticketLifetime: Duration = .seconds(30)
        /// `auth.jwt`; `nil` accepts no JWT.
        public var jwt: JWTSettings?
        public init() {}
    }

    /// `cors`: the origins whose pages may read streams and call the API with credentials.
    public struct CORS: Sendable {
        /// Exact origins (`https://app.example`, `http://localhost:5173`).
        public var origins: Set<String> = []
        public init() {}
    }

    /// Where the configuration was read from, for messages.
    public var file: String = "<defaults>"
    /// What the file does that works but should not (a secret file every user can read): `check` prints these and
    /// the daemon logs them, at start and at each reload.
    public var warnings: [ConfigDiagnostic] = []
    public var server = Server()
    public var streams = Streams()
    public var store = Store()
    public var tokens: [AccessToken] = []
    public var auth = Auth()
    public var cors = CORS()
    public var sources: [String: Source] = [:]
    public var rules: [Rule] = []

    public init() {}

    /// How long the store keeps delivery ids: the longest window of any deduplicating source (`nil` when none).
    public var deliveryRetention: Duration? {
        sources.values.filter { $0.deliveryID != nil }.map(\.deliveryWindow).max()
    }

    /// The source fed by the Unix socket, if any.
    public var unixSocketSource: Source? {
        sources.values.first { $0.kind == .unixSocket }
    }
}

extension Configuration.TLS: CustomStringConvertible {
    /// The sizes of the PEM texts, never the key's (a value interpolated into a log line).
    public var description: String {
        "TLS(certificate chain: \(certificateChainPEM.utf8.count) bytes of PEM, private key: <hidden>)"
    }
}
