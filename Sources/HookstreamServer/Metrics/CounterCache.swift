import CoreMetrics

/// The counters of one labelled metric, by label values, made when first counted.
///
/// The last one counted is kept aside: a webhook is counted twice (its status, its rule), and a run of them from one
/// source usually comes back to the same counters, so comparing the key with the last one's saves hashing it on
/// every publish.
struct CounterCache<Key: Hashable & Sendable>: Sendable {
    private var counters: [Key: Counter] = [:]
    private var last: (key: Key, counter: Counter)?

    /// The counter for `key`, made by `make` the first time.
    mutating func counter(for key: Key, make: () -> Counter) -> Counter {
        if let last, last.key == key { return last.counter }
        let counter: Counter
        if let known = counters[key] {
            counter = known
        } else {
            counter = make()
            counters[key] = counter
        }
        last = (key, counter)
        return counter
    }
}
