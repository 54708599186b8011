import HookstreamCore
import Testing

@testable import HookstreamServer

/// When a replay has caught up: a page that the store stopped neither at its count nor at its bytes.
@Suite struct StreamReplayTests {
    private func page(_ count: Int, dataBytes: Int) -> [Event] {
        let data = String(repeating: "x", count: dataBytes)
        return (0..<count).map { Event(id: EventID($0 + 1), topic: "t/x", type: "message", data: .text(data), timestamp: 0, source: "s") }
    }

    @Test func aPageIsTheLastOnlyWhenUnderBothBounds() {
        #expect(StreamReplay.isLastPage([]))
        #expect(StreamReplay.isLastPage(page(10, dataBytes: 100)))
        #expect(!StreamReplay.isLastPage(page(StreamReplay.pageSize, dataBytes: 10)), "stopped at the count")
        #expect(!StreamReplay.isLastPage(page(4, dataBytes: 512 * 1024)), "stopped at the bytes: 4 events of 512 KiB reach 2 MiB")
        #expect(StreamReplay.isLastPage(page(3, dataBytes: 512 * 1024)))
    }
}
