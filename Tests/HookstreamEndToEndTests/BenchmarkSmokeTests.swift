import Foundation
import Testing

/// The fan-out benchmark (`bench/fanout/run.py`) at CI size, so it never rots: tiny numbers, both servers,
/// every run must verify (no loss, no duplicate, in order). It asserts no timing.
@Suite(.timeLimit(.minutes(5))) struct BenchmarkSmokeTests {
    @Test func fanoutBenchmarkRunsAgainstNchanAndHookstream() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        let report = directory.appendingPathComponent("BENCHMARKS-smoke.md").path
        let run = try await ChildProcess.run(
            "/usr/bin/env",
            ["python3", TestEnvironment.packageRoot.appendingPathComponent("bench/fanout/run.py").path, "--smoke",
             "--bin", TestEnvironment.binary, "--out", report],
            timeout: .seconds(280))
        #expect(run.status == 0, "\(run.stderr.suffix(3000))")
        let text = try String(contentsOfFile: report, encoding: .utf8)
        let verifiedRows = text.split(separator: "\n").filter { $0.contains("every run verified") }
        #expect(verifiedRows.count == 3)
        #expect(verifiedRows.allSatisfy { $0.contains("| True | True |") }, "\(verifiedRows)")
        #expect(text.contains("| (b) smoke: -n 50 -m 0 --hold 0.5 | streams connected | 50 | 50 |"))
    }
}
