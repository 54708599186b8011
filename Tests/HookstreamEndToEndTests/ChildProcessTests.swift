import Foundation
import Testing

/// The harness's own child processes. A full run starts hundreds of them in one test process, so each must leave
/// nothing open behind it: three pipe ends leaked per child reached 1,053 descriptors by the end of a run, and then
/// Foundation's `Process.run()` crashed (SIGSEGV) reading `/proc/self/fd`.
@Suite(.timeLimit(.minutes(2))) struct ChildProcessTests {
    @Test func childrenThatEndOrAreDroppedLeaveNoDescriptorOpen() async throws {
        // Foundation opens a few descriptors once, not per child: its process-manager thread, and a run loop (an
        // epoll, an eventfd, a timerfd) on each thread that waits for a child. Let it, before counting.
        for _ in 0..<4 {
            _ = try await ChildProcess.run("/bin/true", [])
            _ = try ChildProcess("/bin/sleep", ["30"])
        }
        let before = try Self.openDescriptors()

        for _ in 0..<30 {
            let run = try await ChildProcess.run("/bin/sh", ["-c", "echo out; echo err >&2"])
            #expect(run.status == 0 && run.stdout == "out\n" && run.stderr == "err\n")
        }
        // Dropped while still running (a test that failed before stopping its daemon): killed, reaped, let go.
        for _ in 0..<10 {
            let child = try ChildProcess("/bin/sleep", ["30"])
            #expect(child.isRunning)
        }

        // The dropped ones are reaped on threads of their own; a leak of one descriptor per child would be 40.
        try await waitUntil("the children's descriptors to close") { try Self.openDescriptors() <= before + 3 }
    }

    private static func openDescriptors() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    }
}
