import Foundation
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One connection to the daemon's Unix socket, as `hookstream publish` uses it: a line out, the answer's line back.
struct UnixSocketClient {
    /// Why a message got no answer.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let channel: any Channel
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    /// Bytes read past the last answer's newline.
    private var pending = ByteBuffer()
    private let timeout: TimeAmount
    /// Set when an answer's wait ran out and the connection was closed (on the event loop).
    private let timedOut = TimedOut()

    /// Connects to `path` and runs `session` with the connection, which is closed when it returns. Each answer is
    /// waited for at most `timeout`.
    static func withConnection<Result: Sendable>(
        to path: String, timeout: TimeAmount, _ session: (inout UnixSocketClient) async throws -> Result
    ) async throws -> Result {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
        } catch {
            throw Failure(description: unreachable(path, error))
        }
        return try await channel.executeThenClose { inbound, outbound in
            var client = UnixSocketClient(channel: channel.channel, outbound: outbound, inbound: inbound.makeAsyncIterator(), timeout: timeout)
            return try await session(&client)
        }
    }

    /// Why `path` could not be connected to, said so that the user knows what to change.
    private static func unreachable(_ path: String, _ error: any Error) -> String {
        // A relative path is the client's, from its own working directory: say which file that was.
        let tried = path.hasPrefix("/") ? path : "\(path) (\(FileManager.default.currentDirectoryPath)/\(path))"
        if path.utf8.count > 107 {
            return "the socket path \(tried) is longer than the 107 bytes a Unix socket's path may have: give a shorter one (a relative path, say)"
        }
        if let type = try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType, type != .typeSocket {
            return "\(tried) is not a Unix socket: name the daemon's server.unix_socket.path with --socket or HOOKSTREAM_SOCKET"
        }
        let code = (error as? IOError)?.errnoCode
        let reason = code.map { String(cString: strerror($0)) } ?? "\(error)"
        if code == EACCES {
            return "cannot reach the daemon's Unix socket at \(tried): \(reason). Its server.unix_socket.mode, .owner and .group say who may send"
        }
        return "cannot reach the daemon's Unix socket at \(tried): \(reason). Is hookstream running, and is this its server.unix_socket.path "
            + "(relative to the daemon's working directory)? --socket or HOOKSTREAM_SOCKET names another"
    }

    private init(
        channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
        timeout: TimeAmount
    ) {
        self.channel = channel
        self.outbound = outbound
        self.inbound = inbound
        self.timeout = timeout
    }

    /// Sends one line (a JSON message, without its newline) and returns the daemon's answer, without its newline.
    mutating func send(_ line: some Collection<UInt8>) async throws -> String {
        // The timer of the last answer may have fired just as the answer came: the connection is closed.
        if let failure = timedOut.failure(timeout) { throw failure }
        var buffer = ByteBuffer()
        buffer.writeBytes(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        do {
            try await outbound.write(buffer)
        } catch {
            throw Failure(description: "the daemon closed the connection before the message was sent (\(error))")
        }
        // Past the timeout the connection is closed, which ends the wait below.
        let timedOut = self.timedOut
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.flag.withLock { $0 = true }
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        while true {
            if let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let answer = pending.readString(length: newline - pending.readerIndex) ?? ""
                pending.moveReaderIndex(forwardBy: 1)
                return answer
            }
            let more: ByteBuffer?
            do {
                more = try await inbound.next()
            } catch {
                throw timedOut.failure(timeout) ?? Failure(description: "the connection to the daemon failed (\(error))")
            }
            guard var more else { throw timedOut.failure(timeout) ?? Failure(description: "the daemon closed the connection without answering") }
            pending.writeBuffer(&more)
        }
    }

    /// Whether an answer's wait ran out (set on the event loop, read by the waiting task).
    private final class TimedOut: Sendable {
        let flag = Mutex(false)

        func failure(_ timeout: TimeAmount) -> Failure? {
            flag.withLock { $0 } ? Failure(description: "no answer from the daemon within \(timeout.nanoseconds / 1_000_000_000) s") : nil
        }
    }
}
