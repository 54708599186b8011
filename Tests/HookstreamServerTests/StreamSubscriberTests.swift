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
            // NIOCore's address, not Glibc's sockaddr_in, whose members a release build with @testable imports
            // finds in NIO's C module instead.
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
            descriptor = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
            var size: CInt = 4096
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<CInt>.size))
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let status = address.withSockAddr { connect(descriptor, $0, socklen_t($1)) }
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

    /// Delivers frames `numbers` as one drain does: one coalesced buffer, one write.
    private static func deliver(_ numbers: ClosedRange<Int>, to subscriber: StreamSubscriber) {
        let events = numbers.map(frame)
        var coalesced = ByteBuffer()
        for event in events { coalesced.writeImmutableBuffer(event.frame) }
        subscriber.deliver(events, firstID: events[0].id, lastID: events[events.count - 1].id, coalesced: coalesced)
    }

    /// The bytes of frames `numbers`, in order.
    private static func bytes(of numbers: ClosedRange<Int>) -> [UInt8] {
        var bytes: [UInt8] = []
        for n in numbers { bytes += Array(frame(n).frame.readableBytesView) }
        return bytes
    }

    /// The bytes NIO holds unwritten for the subscriber's connection (on its loop).
    private static func held(by subscriber: StreamSubscriber) throws -> Int {
        try subscriber.channel.syncOptions!.getOption(.bufferedWritableBytes)
    }

    /// Runs `body` with a server whose one accepted connection becomes a subscriber with a queue bound of `queue`
    /// events, and its client; closes both and shuts the loop down afterwards, whether `body` succeeded or not.
    /// `sendBuffer` fixes the server socket's send buffer (otherwise the kernel grows it, on loopback to MiBs).
    private func withServer(
        queue: Int, resumingAfter: EventID? = nil, replayStallGrace: TimeAmount = .seconds(5), sendBuffer: Int? = nil,
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
            var bootstrap = ServerBootstrap(group: group)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
            if let sendBuffer { bootstrap = bootstrap.childChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(sendBuffer)) }
            let bound = try await bootstrap
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

    /// A client that reads steadily while its channel stays over its high-water mark: before each read of one frame's
    /// worth, NIO is topped up to 96 KiB (over the 64 KiB mark, and never under the 32 KiB one: the socket's send
    /// buffer is fixed at 16 KiB), so some 60 frames are written over the mark with a queue of 10 while NIO holds
    /// about 7 of them at a time. It is not cut, and gets every frame whole and in order. (It was cut at the
    /// eleventh: every frame written over the mark counted until the channel went under its low-water mark, however
    /// many of them the client had taken.)
    @Test func aClientReadingWhileItsChannelStaysOverItsMarkIsNotCut() async throws {
        try await withServer(queue: 10, sendBuffer: 16 * 1024) { client, subscriber in
            let loop = subscriber.eventLoop
            var written = 0
            var received: [UInt8] = []
            for _ in 0..<60 {
                let before = written
                written = try await loop.submit { () -> Int in
                    var n = before
                    while !subscriber.value.isClosed, try StreamSubscriberTests.held(by: subscriber.value) < 96 * 1024, n < before + 100 {
                        n += 1
                        StreamSubscriberTests.deliver(StreamSubscriberTests.frame(n), to: subscriber.value)
                    }
                    return n
                }.get()
                received += client.read(exactly: 16 * 1024)
            }
            let (isOverItsMark, wasCut) = try await loop.submit { (!subscriber.value.channel.isWritable, subscriber.value.wasCut) }.get()
            #expect(!wasCut, "the client was reading")
            #expect(isOverItsMark, "and the channel was still over its mark")
            #expect(written > 60)
            let expected = StreamSubscriberTests.bytes(of: 1...written)
            received += client.read(exactly: expected.count - received.count)
            #expect(received.count == expected.count && received == expected, "every frame, whole and in order")
        }
    }

    /// One drain of 30 events to a subscriber with a queue of 10 whose channel is already over its mark is not a cut by
    /// itself: its client has not had a moment to take them, and a reading client gets them all. (It was cut on the
    /// spot.) Another write while NIO still holds those 30 is: the client is 30 behind. The drain is one coalesced
    /// write, or (`overlapping`: it starts with the event delivered last, as one can just after a replay's hand-off)
    /// one write per event.
    @Test(arguments: [false, true]) func oneDrainLargerThanTheQueueIsNotACutButAnotherWhileItIsStillHeldIs(overlapping: Bool) async throws {
        try await withServer(queue: 10) { client, subscriber in
            let loop = subscriber.eventLoop
            /// Frames one at a time from `first` until the channel is over its mark, then frames of one drain of 30.
            @Sendable func fillThenDrainOf30(from first: Int) -> (last: Int, isOpen: Bool) {
                var n = first - 1
                while subscriber.value.channel.isWritable && n < first + 1_000 {
                    n += 1
                    StreamSubscriberTests.deliver(StreamSubscriberTests.frame(n), to: subscriber.value)
                }
                StreamSubscriberTests.deliver((overlapping ? n : n + 1)...(n + 30), to: subscriber.value)
                return (n + 30, !subscriber.value.isClosed)
            }
            let first = try await loop.submit { fillThenDrainOf30(from: 1) }.get()
            #expect(first.isOpen, "one drain larger than the queue is not a cut")
            let expected = StreamSubscriberTests.bytes(of: 1...first.last)
            let received = client.read(exactly: expected.count)
            #expect(received.count == expected.count && received == expected, "the client got every frame, whole and in order")
            #expect(try await loop.submit { subscriber.value.isClosed }.get() == false)

            // The client stops reading: over the mark again, a drain of 30 that it does not take, then one more event.
            let cut = try await loop.submit { () -> Bool in
                let second = fillThenDrainOf30(from: first.last + 1)
                guard second.isOpen else { return false }
                StreamSubscriberTests.deliver(StreamSubscriberTests.frame(second.last + 1), to: subscriber.value)
                return subscriber.value.wasCut
            }.get()
            #expect(cut, "NIO still held 30 events from before: cut")
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

    /// A resuming client that takes a replay page of 2 MiB slowly (a little every 50 ms, so NIO holds over a MiB of it
    /// throughout, far over the mark: the socket's send buffer is fixed at 16 KiB) for six times the grace, while
    /// three live events a round arrive and are held for the hand-off: it is not cut, since the grace restarts
    /// whenever the client is seen taking bytes. (It was cut once the grace had passed since the channel went over
    /// its mark, at the eleventh live event after that.)
    @Test func aResumingSubscriberTakingALargeReplaySlowlyPastTheGraceIsNotCut() async throws {
        try await withServer(queue: 10, resumingAfter: 0, replayStallGrace: .milliseconds(100), sendBuffer: 16 * 1024) { client, subscriber in
            let loop = subscriber.eventLoop
            let page = 2 << 20
            try await loop.submit {
                _ = subscriber.value.write(ByteBuffer(repeating: UInt8(ascii: "r"), count: page), flush: true)
            }.get()
            var taken = 0
            for round in 0..<12 {
                // The client takes some of the page, until NIO has handed the socket more of it.
                let before = try await loop.submit { try StreamSubscriberTests.held(by: subscriber.value) }.get()
                try await waitUntilTrue("the client to take bytes") {
                    taken += client.read(exactly: 8 * 1024).count
                    return try await loop.submit { try StreamSubscriberTests.held(by: subscriber.value) < before }.get()
                }
                let state = try await loop.submit { () -> (isOpen: Bool, isOverItsMark: Bool) in
                    for n in (round * 3 + 1)...(round * 3 + 3) {
                        StreamSubscriberTests.deliver(StreamSubscriberTests.frame(n), to: subscriber.value)
                    }
                    return (!subscriber.value.isClosed, !subscriber.value.channel.isWritable)
                }.get()
                #expect(state.isOpen, "round \(round): the client is taking its replay")
                #expect(state.isOverItsMark, "round \(round): NIO still holds most of the page")
                if !state.isOpen { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(taken < page, "the page was still being taken")
        }
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
