import HookstreamCore
import Testing

@testable import HookstreamServer

@Suite struct ReloadOutcomeTests {
    private func config(_ store: String) throws -> Configuration {
        try ConfigLoader.parse("store: \(store)\n", file: "test.yaml")
    }

    /// The memory store keeps at most the per-topic bound it was made with, so a reload that raises it says it needs
    /// a restart (a lower one its retention passes apply); SQLite's retention runs with the bound in force, so there
    /// it does not.
    @Test func theMemoryStoresBoundNeedsARestartAndSQLitesDoesNot() throws {
        let memoryBound = try config("{ kind: memory, retention: { max_events_per_topic: 100 } }")
        let memory = ReloadOutcome.settingsNeedingRestart(
            bound: memoryBound, previous: memoryBound, to: try config("{ kind: memory, retention: { max_events_per_topic: 200 } }"))
        #expect(memory == ["store.retention.max_events_per_topic (raised: the memory store keeps at most the bound it started with)"])
        // Lowered, it applies at the next retention pass: nothing to restart for.
        let lowered = ReloadOutcome.settingsNeedingRestart(
            bound: memoryBound, previous: memoryBound, to: try config("{ kind: memory, retention: { max_events_per_topic: 50 } }"))
        #expect(lowered.isEmpty)
        let sqliteBound = try config("{ kind: sqlite, retention: { max_events_per_topic: 100 } }")
        let sqlite = ReloadOutcome.settingsNeedingRestart(
            bound: sqliteBound, previous: sqliteBound, to: try config("{ kind: sqlite, retention: { max_events_per_topic: 200 } }"))
        #expect(sqlite.isEmpty)
    }
}
