/// How an event store is doing, as `GET /readyz` tells it: said in words safe to show anyone who can reach the
/// endpoint (no path, no database error; the journal has those).
public enum StoreCondition: Sendable, Equatable {
    /// Stores and serves events as it should.
    case healthy
    /// Still accepts events, but something an operator must look at is wrong (a durable store that cannot write its
    /// database keeps accepted events in its append log and in memory, and will refuse new ones once they fill up).
    case degraded(String)
    /// Refuses new events (publishes get `503`) until the cause goes away.
    case refusing(String)
}
