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
        /// Event-loop threads for HTTP (`server.event_loop_threads`); one is best on small machines.
        public var eventLoopThreads: Int = 1
        public init() {}
    }

    /// `server.unix_socket`.
    public struct UnixSocket: Sendable, Hashable {
        public var path: String
        /// File mode of the socket, `0o660` by default.
        public var mode: UInt32 = 0o660
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
        public init() {}
    }

    /// `store`.
    public struct Store: Sendable {
        public enum Kind: String, Sendable, CaseIterable {
            case memory
            case sqlite
        }
        public var kind: Kind = .sqlite
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
        public init(name: String, kind: Kind) {
            self.name = name
            self.kind = kind
        }
    }

    /// Where the configuration was read from, for messages.
    public var file: String = "<defaults>"
    public var server = Server()
    public var streams = Streams()
    public var store = Store()
    public var tokens: [AccessToken] = []
    public var sources: [String: Source] = [:]
    public var rules: [Rule] = []

    public init() {}

    /// The source fed by the Unix socket, if any.
    public var unixSocketSource: Source? {
        sources.values.first { $0.kind == .unixSocket }
    }
}
