#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HookstreamCore
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import HookstreamServer

/// A subscriber's frames over a real loopback TCP connection, read by a plain blocking socket: written through NIO's
/// pipeline, whole and in order when the client pauses, and cut when it stops reading for good.
@Suite(.timeLimit(.minutes(1))) struct StreamSubscriberTests {
    /// Makes the subscriber of the one connection the server accepts.
    private final class Capture: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<NIOLoopBound<StreamSubscriber>>
        let queue: Int
        let resumingAfter: EventID?
        let replayStallGrace: TimeAmount
        var subscriber: StreamSubscriber?

        init(promise: EventLoopPromise<NIOLoopBound<StreamSubscriber>>, queue: Int, resumingAfter: EventID?, replayStallGrace: TimeAmount) {
            self.promise = promise
            self.queue = queue
            self.resumingAfter = resumingAfter
            self.replayStallGrace = replayStallGrace
        }

        func channelActive(context: ChannelHandlerContext) {
            let subscriber = StreamSubscriber(
                context: context, filter: TopicFilter([]), credential: "test", identity: "test", resumingAfter: resumingAfter, queue: queue,
                logger: Logger(label: "test"), replayStallGrace: replayStallGrace)
            self.subscriber = subscriber
            promise.succeed(NIOLoopBound(subscriber, eventLoop: context.eventLoop))
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            subscriber?.writabilityChanged(context.channel.isWritable)
        }
    }

    /// A blocking client socket with a tiny receive buffer, so the server's writes back up quickly.
    private struct Client {
        let descriptor: CInt

        init(port: Int) throws {
            descriptor = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
            var size: CInt = 4096
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<CInt>.size))
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard status == 0 else {
                let error = errno
                close(descriptor)
                throw TestFailure("connect failed: errno \(error)")
            }
        }

        /// Reads until `count` bytes have arrived (or the peer closed).
        func read(exactly count: Int) -> [UInt8] {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while bytes.count < count {
                let n = recv(descriptor, &chunk, min(chunk.count, count - bytes.count), 0)
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
            return bytes
        }

        func disconnect() { close(descriptor) }
    }

    private struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Frame `n`: its id, then 16 KiB of one letter, so a frame cut into by another shows.
    private static func frame(_ n: Int) -> EncodedEvent {
        let letter = Character(UnicodeScalar(UInt8(97 + n % 26)))
        var buffer = ByteBuffer()
        buffer.writeString("id: \(n)\ndata: \(String(repeating: letter, count: 16 * 1024))\n\n")
        return EncodedEvent(id: EventID(n), topic: "t", frame: buffer)
    }

    private static func deliver(_ event: EncodedEvent, to subscriber: StreamSubscriber) {
        subscriber.deliver([event], firstID: event.id, lastID: event.id, coalesced: event.frame)
    }

    /// Runs `body` with a server whose one accepted connection becomes a subscriber with a queue bound of `queue`
    /// events, and its client; closes both and shuts the loop down afterwards, whether `body` succeeded or not.
    private func withServer(
        queue: Int, resumingAfter: EventID? = nil, replayStallGrace: TimeAmount = .seconds(5),
        _ body: (Client, NIOLoopBound<StreamSubscriber>) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var server: (any Channel)?
        var client: Client?
        func tearDown() async throws {
            client?.disconnect()
            try await server?.close()
            try await group.shutdownGracefully()
        }
        do {
            let accepted = group.next().makePromise(of: NIOLoopBound<StreamSubscriber>.self)
            let bound = try await ServerBootstrap(group: group)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(
                            Capture(promise: accepted, queue: queue, resumingAfter: resumingAfter, replayStallGrace: replayStallGrace))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            server = bound
            let connected = try Client(port: bound.localAddress!.port!)
            client = connected
            try await body(connected, try await accepted.futureResult.get())
        } catch {
            try? await tearDown()
            throw error
        }
        try await tearDown()
    }

    @Test func framesStayWholeAndInOrderWhenTheClientPausesThenReads() async throws {
        try await withServer(queue: 100_000) { client, subscriber in
            let loop = subscriber.eventLoop
            // The client reads nothing while 300 frames of 16 KiB are written: the kernel's buffers fill, and NIO holds
            // the rest, in order.
            let count = 300
            try await loop.submit {
                for n in 1...count { StreamSubscriberTests.deliver(StreamSubscriberTests.frame(n), to: subscriber.value) }
            }.get()
            #expect(try await loop.submit { subscriber.value.channel.isWritable }.get() == false, "NIO holds bytes: the client is behind")
            // Then the client reads everything: every frame arrives whole, in order.
            var expected: [UInt8] = []
            for n in 1...count { expected += Array(StreamSubscriberTests.frame(n).frame.readableBytesView) }
            let received = client.read(exactly: expected.count)
            let firstDifference = received.indices.first(where: { $0 >= expected.count || received[$0] != expected[$0] }) ?? min(received.count, expected.count)
            #expect(received.count == expected.count, "bytes received")
            #expect(firstDifference == expected.count, "every frame arrived whole and in order; first difference at byte \(firstDifference)")
            #expect(try await loop.submit { subscriber.value.isClosed }.get() == false)
        }
    }

    @Test func aSubscriberThatStopsReadingIsCutPastItsQueue() async throws {
        try await withServer(queue: 10) { _, subscriber in
            let loop = subscriber.eventLoop
            // Bad input: a client that reads nothing at all. Once the channel is over its high-water mark, each frame
            // counts against the queue; the eleventh such frame cuts the stream.
            let delivered = try await loop.submit { StreamSubscriberTests.deliverUntilClosed(subscriber.value) }.get()
            #expect(delivered < 1_000)
            #expect(try await loop.submit { subscriber.value.wasCut }.get())
        }
    }

    /// Delivers frames 1, 2, … one at a time until the subscriber closes (at most 1,000); returns how many.
    private static func deliverUntilClosed(_ subscriber: StreamSubscriber) -> Int {
        var n = 0
        while !subscriber.isClosed && n < 1_000 {
            n += 1
            deliver(frame(n), to: subscriber)
        }
        return n
    }

    /// Replay pages of 64 KiB written (not flushed out by a client that reads nothing) until the channel is over
    /// its high-water mark (kernel buffers vary); returns the last page's write.
    private static func fillWithPages(_ subscriber: StreamSubscriber) -> EventLoopFuture<Void> {
        var page = subscriber.write(ByteBuffer(repeating: UInt8(ascii: "r"), count: 1 << 16), flush: true)
        var pages = 1
        while subscriber.channel.isWritable && pages < 1_000 {
            page = subscriber.write(ByteBuffer(repeating: UInt8(ascii: "r"), count: 1 << 16), flush: true)
            pages += 1
        }
        return page
    }

    /// Bad input: a client that resumes (so its replay runs) and reads nothing. The replay's page sits unwritten, and
    /// the live events meanwhile are held for the hand-off, not written; once the client has taken nothing for the
    /// grace, they count against the queue, and the eleventh cuts it. (It was never cut: the replay waited for its
    /// page for good, holding it, and the live events were dropped to be read again.)
    @Test func aResumingSubscriberThatStopsReadingIsCutPastItsQueue() async throws {
        try await withServer(queue: 10, resumingAfter: 0, replayStallGrace: .milliseconds(100)) { _, subscriber in
            let loop = subscriber.eventLoop
            let pageWritten = try await loop.submit { StreamSubscriberTests.fillWithPages(subscriber.value) }.get()
            // Past the grace, measured from when the channel went over its mark.
            try await Task.sleep(for: .milliseconds(150))
            let delivered = try await loop.submit { StreamSubscriberTests.deliverUntilClosed(subscriber.value) }.get()
            #expect(delivered == 11, "cut at the eleventh live event past the queue")
            let cut = try await loop.submit { subscriber.value.wasCut }.get()
            #expect(cut)
            // The replay waiting on its page is released: the write fails with the closed channel. (Not waited for
            // when the stream was not cut: it would wait for good.)
            if cut { await #expect(throws: (any Error).self) { try await pageWritten.get() } }
        }
    }

    /// Bad input: a client that resumes on a quiet topic (no live event to count) and reads nothing. Its replay page
    /// waits; at the second heartbeat NIO still holds as many bytes for it, and it is cut. One that reads some of the
    /// page between the heartbeats is not.
    @Test(arguments: [false, true])
    func aResumingSubscriberThatTakesNothingForAHeartbeatPeriodIsCut(readsBetween: Bool) async throws {
        try await withServer(queue: 10, resumingAfter: 0, replayStallGrace: .seconds(30)) { client, subscriber in
            let loop = subscriber.eventLoop
            let heartbeat = ByteBuffer(string: ": heartbeat\n\n")
            let held = try await loop.submit { () -> Int in
                _ = StreamSubscriberTests.fillWithPages(subscriber.value)
                subscriber.value.writeHeartbeat(heartbeat)
                return try subscriber.value.channel.syncOptions!.getOption(.bufferedWritableBytes)
            }.get()
            #expect(try await loop.submit { subscriber.value.isClosed }.get() == false, "one heartbeat only marks where it stands")
            if readsBetween {
                // Reads until the kernel wants more and NIO hands it some (how much that takes depends on its buffers).
                try await waitUntilTrue("NIO hands the socket more") {
                    _ = client.read(exactly: 64 * 1024)
                    return try await loop.submit { try subscriber.value.channel.syncOptions!.getOption(.bufferedWritableBytes) < held }.get()
                }
            }
            let cut = try await loop.submit { () -> Bool in
                subscriber.value.writeHeartbeat(heartbeat)
                return subscriber.value.wasCut
            }.get()
            #expect(cut == !readsBetween)
        }
    }

    private func waitUntilTrue(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("timed out waiting for \(what)")
    }

    /// A resuming client whose replay page keeps the channel over its mark, as a page of up to 2 MiB does while a
    /// client that reads takes it: live events past the queue, within the grace, do not cut it (they are held, or
    /// dropped and read again from the store).
    @Test func aResumingSubscriberTakingItsReplayIsNotCutWithinTheGrace() async throws {
        try await withServer(queue: 10, resumingAfter: 0, replayStallGrace: .seconds(30)) { _, subscriber in
            let loop = subscriber.eventLoop
            let stillOpen = try await loop.submit { () -> Bool in
                _ = StreamSubscriberTests.fillWithPages(subscriber.value)
                for n in 1...100 { StreamSubscriberTests.deliver(StreamSubscriberTests.frame(n), to: subscriber.value) }
                return !subscriber.value.isClosed && !subscriber.value.channel.isWritable
            }.get()
            #expect(stillOpen, "over its mark, and not cut")
        }
    }
}
