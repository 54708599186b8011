import HookstreamCore
import Testing

@testable import HookstreamServer

/// How many events a replay page may hold: about ``StreamReplay/pageBytes`` of them, by the size of the last page's.
@Suite struct StreamReplayTests {
    private func page(_ count: Int, dataBytes: Int) -> [Event] {
        let data = String(repeating: "x", count: dataBytes)
        return (1...count).map { Event(id: EventID($0), topic: "t/x", type: "message", data: .text(data), timestamp: 0, source: "s") }
    }

    @Test func smallEventsGetFullPagesAndLargeOnesFewPerPage() {
        #expect(StreamReplay.pageLimit(after: []) == StreamReplay.firstPageSize)
        #expect(StreamReplay.pageLimit(after: page(16, dataBytes: 100)) == StreamReplay.pageSize)
        // 512 KiB events: 2 MiB holds 3 of them with their topic, type and framing.
        #expect(StreamReplay.pageLimit(after: page(16, dataBytes: 512 * 1024)) == 3)
        // One event larger than a page's budget still makes a page of one.
        #expect(StreamReplay.pageLimit(after: page(2, dataBytes: 8 << 20)) == 1)
    }
}
