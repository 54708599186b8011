import Foundation
import NIOConcurrencyHelpers

/// A process started by a test, with its standard output and error captured as they arrive.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let stdinPipe = Pipe()
    private let captured = NIOLockedValueBox((stdout: Data(), stderr: Data()))

    /// Starts `executable` with `arguments`.
    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = stdinPipe
        let box = captured
        stdoutPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            box.withLockedValue { $0.stdout.append(data) }
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            box.withLockedValue { $0.stderr.append(data) }
        }
        try process.run()
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

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end; kills it and throws when it takes longer than `timeout`.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        do {
            try await waitUntil(timeout: timeout, "\(process.executableURL?.lastPathComponent ?? "process") to exit") { !process.isRunning }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
        // Let the pipes deliver what the process wrote last.
        try await waitUntil(timeout: .seconds(2), "output to drain") { self.drained() }
        return process.terminationStatus
    }

    private func drained() -> Bool {
        for pipe in [stdoutPipe, stderrPipe] {
            let handle = pipe.fileHandleForReading
            var pollFD = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
            if poll(&pollFD, 1, 0) > 0 && (pollFD.revents & Int16(POLLIN)) != 0 && pollFD.revents & Int16(POLLHUP) == 0 { return false }
        }
        return true
    }

    /// Runs a command to its end.
    static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(60)) async throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try ChildProcess(executable, arguments)
        let status = try await child.waitForExit(timeout: timeout)
        return (status, child.stdout, child.stderr)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        stdoutPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }
}
