import NIOCore

/// Closes the connections of one event loop that wait too long on their client: a request that does not arrive
/// whole within `server.limits.request_timeout`, a connection idle past `server.limits.idle_timeout`, a TLS
/// handshake that does not finish.
///
/// One repeating check per loop, once a second while it watches any connection, rather than a timer per
/// connection: a connection moves its expiry with a clock read and a store at each request, which a keep-alive
/// publisher does hundreds of times a second, and rescheduling a timer each time would cost a system call.
/// Touched only on its loop.
final class ConnectionSweeper: @unchecked Sendable {  // loop-confined
    let eventLoop: any EventLoop
    private var connections: [any ExpiringConnection] = []
    private var check: RepeatedTask?

    /// How often expiries are checked: a timeout takes effect up to this much late.
    static let period = TimeAmount.seconds(1)

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Watches `connection` until ``remove(_:)`` or its expiry.
    func add(_ connection: any ExpiringConnection) {
        eventLoop.assertInEventLoop()
        guard connection.sweeperSlot < 0 else { return }
        connection.sweeperSlot = connections.count
        connections.append(connection)
        if check == nil {
            check = eventLoop.scheduleRepeatedTask(initialDelay: Self.period, delay: Self.period) { task in
                self.sweep(task)
            }
        }
    }

    /// Stops watching `connection` (it became a stream, or closed).
    func remove(_ connection: any ExpiringConnection) {
        eventLoop.assertInEventLoop()
        let slot = connection.sweeperSlot
        guard slot >= 0, slot < connections.count, connections[slot] === connection else { return }
        let last = connections.removeLast()
        if slot < connections.count {
            connections[slot] = last
            last.sweeperSlot = slot
        }
        connection.sweeperSlot = -1
    }

    /// Expires what is due. The check stops itself once nothing is watched (not at each removal: connections that
    /// come and go one request each would start and stop it every time).
    private func sweep(_ task: RepeatedTask) {
        guard !connections.isEmpty else {
            task.cancel()
            check = nil
            return
        }
        let now = NIODeadline.now()
        var due: [any ExpiringConnection] = []
        for connection in connections where connection.expiry <= now { due.append(connection) }
        for connection in due {
            remove(connection)
            connection.expire()
        }
    }

    /// Tells every watched connection that the server is stopping (``ExpiringConnection/serverWillStop()``), before
    /// the streams are ended.
    func announceStop() {
        eventLoop.execute {
            // Over a copy: a connection told may leave the list (an HTTP/2 connection without streams closes).
            for connection in self.connections { connection.serverWillStop() }
        }
    }

    /// Stops checking (the server is stopping).
    func shutdown() {
        eventLoop.execute {
            self.check?.cancel()
            self.check = nil
            for connection in self.connections { connection.sweeperSlot = -1 }
            self.connections.removeAll()
        }
    }
}
