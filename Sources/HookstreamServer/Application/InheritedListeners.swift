/// Listening sockets handed to the daemon already bound (systemd socket activation): each replaces the listener
/// the configuration would open.
public struct InheritedListeners: Sendable {
    /// A bound TCP (or Unix) stream socket serving HTTP.
    public var http: CInt?
    /// A bound Unix stream socket for newline-delimited JSON ingest.
    public var ingest: CInt?

    public init(http: CInt? = nil, ingest: CInt? = nil) {
        self.http = http
        self.ingest = ingest
    }
}
