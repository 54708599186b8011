import NIOCore

/// A connection (or the part of one that waits on the client) that a ``ConnectionSweeper`` closes once its expiry
/// has passed. Touched only on its event loop.
protocol ExpiringConnection: AnyObject {
    /// When the connection times out; `.distantFuture` while no timeout applies (an answer is owed, a stream is
    /// open). Moving it is a store, not a timer: the sweeper reads it once a second.
    var expiry: NIODeadline { get }
    /// The connection's index in its sweeper's list (`-1` when not in it), for removal in O(1).
    var sweeperSlot: Int { get set }
    /// Called on the loop once ``expiry`` has passed, after the sweeper let go of the connection: it answers or
    /// closes as its protocol allows.
    func expire()
    /// Called on the loop when the server starts to stop, before it ends the open streams: a connection that can
    /// tell its client not to send more on it does so now.
    func serverWillStop()
}

extension ExpiringConnection {
    /// HTTP/1.1 has nothing to say ahead: an open stream ends with the `retry:` the stop gives it, and a request
    /// asked meanwhile is answered.
    func serverWillStop() {}
}
