#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import HookstreamCore
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import HookstreamServer

/// A subscriber's frames over a real loopback TCP connection, read by a plain blocking socket: direct sends, and
/// the hand-over to NIO and back when the client stops reading.
@Suite(.timeLimit(.minutes(1))) struct StreamSubscriberTests {
    /// Makes the subscriber of the one connection the server accepts.
    private final class Capture: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<NIOLoopBound<StreamSubscriber>>
        var subscriber: StreamSubscriber?

        init(promise: EventLoopPromise<NIOLoopBound<StreamSubscriber>>) { self.promise = promise }

        func channelActive(context: ChannelHandlerContext) {
            let subscriber = StreamSubscriber(
                context: context, filter: TopicFilter([]), credential: "test", identity: "test", resumingAfter: nil, queue: 100_000, logger: Logger(label: "test"))
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
            guard status == 0 else { throw TestFailure("connect failed: errno \(errno)") }
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

        /// Reads whatever arrives until nothing more comes for 200 ms.
        func readAvailable() -> [UInt8] {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            while poll(&poller, 1, 200) > 0 {
                let n = recv(descriptor, &chunk, chunk.count, 0)
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

    @Test func framesStayWholeAndInOrderWhenTheClientPausesAndTheKernelFindsRoomWhileNIOHoldsBytes() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let accepted = loop.makePromise(of: NIOLoopBound<StreamSubscriber>.self)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Capture(promise: accepted)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = try Client(port: server.localAddress!.port!)
        let subscriber = try await accepted.futureResult.get()

        // The socket was found and verified: the first frame goes straight to the kernel.
        let first = try await loop.submit {
            StreamSubscriberTests.deliver(StreamSubscriberTests.frame(1), to: subscriber.value)
            return subscriber.value.sendsDirectly
        }.get()
        #expect(first, "the subscriber sends directly")

        // The client reads nothing: frames fill the kernel's buffers, then NIO starts holding the rest.
        let filled = try await loop.submit { () -> Int in
            var n = 1
            while subscriber.value.sendsDirectly && n < 2_000 {
                n += 1
                StreamSubscriberTests.deliver(StreamSubscriberTests.frame(n), to: subscriber.value)
            }
            return n
        }.get()
        #expect(filled < 2_000, "NIO took over once the kernel was full")

        // More frames while the client still reads nothing: they queue in NIO, behind the barrier NIO's first
        // bytes put up.
        let queued = try await loop.submit { () -> Int in
            for n in (filled + 1)...(filled + 300) {
                StreamSubscriberTests.deliver(StreamSubscriberTests.frame(n), to: subscriber.value)
            }
            return filled + 300
        }.get()

        // The client reads up to the end of frame `filled + 1`: NIO has written past the first barrier, and still
        // holds most of the queued frames.
        var expected: [UInt8] = []
        for n in 1...(filled + 1) { expected += Array(StreamSubscriberTests.frame(n).frame.readableBytesView) }
        var received = client.read(exactly: expected.count)

        // Then the loop is held while the client reads what the kernel has: the socket has room again, and NIO
        // has had no chance to use it. The next frame must still go behind what NIO holds, not into that room.
        let reading = DispatchSemaphore(value: 0)
        let next = loop.submit { () -> Bool in
            reading.wait()
            StreamSubscriberTests.deliver(StreamSubscriberTests.frame(queued + 1), to: subscriber.value)
            return subscriber.value.sendsDirectly
        }
        received += client.readAvailable()
        reading.signal()
        #expect(try await next.get() == false, "NIO still held bytes, so the frame went behind them")

        // The client reads everything: NIO's queue empties and frames go directly again.
        let total = queued + 2
        for n in (filled + 2)...(queued + 1) { expected += Array(StreamSubscriberTests.frame(n).frame.readableBytesView) }
        received += client.read(exactly: expected.count - received.count)
        let direct = try await loop.submit { () -> Bool in
            let direct = subscriber.value.sendsDirectly
            StreamSubscriberTests.deliver(StreamSubscriberTests.frame(total), to: subscriber.value)
            return direct
        }.get()
        #expect(direct, "frames go directly again once NIO holds nothing")
        let last = Array(StreamSubscriberTests.frame(total).frame.readableBytesView)
        expected += last
        received += client.read(exactly: last.count)

        // Compared byte for byte; on a difference, say where (the arrays are megabytes long).
        let firstDifference = received.indices.first(where: { $0 >= expected.count || received[$0] != expected[$0] }) ?? min(received.count, expected.count)
        #expect(received.count == expected.count, "bytes received")
        #expect(firstDifference == expected.count, "every frame arrived whole and in order; first difference at byte \(firstDifference)")

        client.disconnect()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
