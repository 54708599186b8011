import Foundation
import NIOConcurrencyHelpers

/// A process started by a test, with its standard output and error captured as they arrive.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let stdinPipe = Pipe()
    private let captured = NIOLockedValueBox((stdout: Data(), stderr: Data()))
    /// How many of the two output pipes have been read to their end.
    private let ended = NIOLockedValueBox(0)

    /// Starts `executable` with `arguments`.
    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = stdinPipe
        try process.run()
        ChildProcess.startReader(stdoutPipe, captured: captured, ended: ended) { $0.stdout.append(contentsOf: $1) }
        ChildProcess.startReader(stderrPipe, captured: captured, ended: ended) { $0.stderr.append(contentsOf: $1) }
    }

    /// Reads `pipe` to its end on a thread of its own, appending what comes to `captured`.
    ///
    /// Not `FileHandle.readabilityHandler`: once the writer had exited, it sometimes stopped being called with bytes
    /// still in the pipe (4 KiB of journalctl's output, seen with `FIONREAD`), so the end of an output went missing.
    private static func startReader(
        _ pipe: Pipe, captured: NIOLockedValueBox<(stdout: Data, stderr: Data)>, ended: NIOLockedValueBox<Int>,
        append: @escaping @Sendable (inout (stdout: Data, stderr: Data), UnsafeRawBufferPointer) -> Void
    ) {
        // The thread holds the pipe, so that its descriptor stays open (and is not reused) while the thread reads.
        let reading = UncheckedPipe(pipe: pipe)
        Thread.detachNewThread {
            let descriptor = reading.pipe.fileHandleForReading.fileDescriptor
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
            defer { buffer.deallocate() }
            while true {
                let count = read(descriptor, buffer.baseAddress, buffer.count)
                if count > 0 {
                    captured.withLockedValue { append(&$0, UnsafeRawBufferPointer(rebasing: buffer[..<count])) }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break  // the end: every writer closed the pipe
                }
            }
            ended.withLockedValue { $0 += 1 }
        }
    }

    var stdout: String { String(decoding: captured.withLockedValue { $0.stdout }, as: UTF8.self) }
    var stderr: String { String(decoding: captured.withLockedValue { $0.stderr }, as: UTF8.self) }
    /// The complete lines written so far (a line still being written is left out).
    var stdoutLines: [String] {
        let text = stdout
        let complete = text.hasSuffix("\n") ? Substring(text) : text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]
        return complete.split(separator: "\n").map(String.init)
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    func writeLine(_ line: String) {
        stdinPipe.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Ends the process's standard input, as the end of a pipe does.
    func closeStandardInput() {
        try? stdinPipe.fileHandleForWriting.close()
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Kills the process and every process it started, however deep (the Chromium a Python client started, nginx's
    /// workers): SIGKILL reaches one process only, and what it started would outlive the test. Each is stopped
    /// before its children are read, so none can start another unseen.
    func killAll() {
        guard process.isRunning else { return }
        var found = [process.processIdentifier]
        var next = 0
        while next < found.count {
            let pid = found[next]
            next += 1
            kill(pid, SIGSTOP)
            found += ChildProcess.children(of: pid)
        }
        for pid in found { kill(pid, SIGKILL) }
    }

    /// The processes `pid` started that are still its children, from `/proc` (every thread's list).
    private static func children(of pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    /// Waits for the process to end; kills it and throws when it takes longer than `timeout`.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        do {
            try await waitUntil(timeout: timeout, "\(process.executableURL?.lastPathComponent ?? "process") to exit") { !process.isRunning }
        } catch {
            killAll()
            throw error
        }
        // Let the readers take what the process wrote last. A process it started may still hold the pipes open: then
        // waiting ends once nothing is left unread in them.
        try await waitUntil(timeout: .seconds(5), "output to drain") { self.drained() }
        releaseProcess()
        return process.terminationStatus
    }

    /// Lets Foundation's `Process` go once it has ended, and with it the pipes it holds.
    ///
    /// On Linux, `run()` registers a run-loop source that keeps the `Process` alive until `waitUntilExit()` is called,
    /// so each child left its three pipe ends open in the test process: 1,053 descriptors by the end of a full run,
    /// and past about 1,360 Foundation's next `run()` crashed reading `/proc/self/fd`. The child has ended here, so
    /// this returns at once.
    private func releaseProcess() {
        process.waitUntilExit()
    }

    private func drained() -> Bool {
        if ended.withLockedValue({ $0 }) == 2 { return true }
        for pipe in [stdoutPipe, stderrPipe] {
            var unread: Int32 = 0
            if ioctl(pipe.fileHandleForReading.fileDescriptor, UInt(FIONREAD), &unread) != 0 || unread > 0 { return false }
        }
        // Nothing unread. With no writer left, the readers are at the end and about to say so (one may hold its last
        // bytes between `read` and the lock): wait for them. With a writer left, their end may never come.
        return stillWritten()
    }

    /// Whether something other than the exited process may still write to its output (it holds a pipe's write end):
    /// a pipe with no writer left reports POLLHUP.
    private func stillWritten() -> Bool {
        [stdoutPipe, stderrPipe].contains { pipe in
            var pollFD = pollfd(fd: pipe.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
            return poll(&pollFD, 1, 0) >= 0 && pollFD.revents & Int16(POLLHUP) == 0
        }
    }

    /// Runs a command to its end.
    static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(60)) async throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try ChildProcess(executable, arguments)
        let status = try await child.waitForExit(timeout: timeout)
        return (status, child.stdout, child.stderr)
    }

    deinit {
        killAll()
        if process.isRunning {
            // Killed just now and not yet reaped: wait for that off the caller's thread, then let it go.
            let process = UncheckedProcess(process: process)
            Thread.detachNewThread { process.process.waitUntilExit() }
        } else {
            releaseProcess()
        }
    }
}

/// A process handed to the thread that waits for it.
private struct UncheckedProcess: @unchecked Sendable {
    let process: Process
}

/// A pipe handed to a reader thread.
private struct UncheckedPipe: @unchecked Sendable {
    let pipe: Pipe
}
