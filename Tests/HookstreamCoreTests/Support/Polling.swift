import Testing

/// Polls `condition` every 10 ms for up to `timeout`, and records an issue naming `what` if it never holds:
/// what a test waits for is observed, never assumed after a fixed sleep.
func waitFor(_ what: String, timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("\(what): not within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}
