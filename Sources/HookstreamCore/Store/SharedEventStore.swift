/// A store that other processes append to as well: a PostgreSQL database shared by several hookstream instances
/// behind a load balancer. Every instance serves every topic, so each one must hear of the events the others append
/// and hand them to its own subscribers, in id order with its own.
///
/// The ``Broker`` over such a store calls ``follow(from:deliver:)`` once, and takes what it is given as it takes its
/// own appends.
public protocol SharedEventStore: EventStore {
    /// Starts telling of events appended elsewhere: `deliver` gets them in id order, with `through`, the id up to
    /// which they are every event the store has after `cursor()` (an id below it that is neither given nor appended by
    /// this process was pruned before it was read). `cursor` says what this process has handed on already, where a
    /// read after a lost connection starts.
    func follow(from cursor: @escaping @Sendable () -> EventID, deliver: @escaping @Sendable (_ events: [Event], _ through: EventID) -> Void)
}
