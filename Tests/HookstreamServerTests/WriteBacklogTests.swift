import Testing

@testable import HookstreamServer

/// The events NIO still holds for a stream over its high-water mark, against its queue bound.
@Suite struct WriteBacklogTests {
    /// `backlog.admit(count, limit:)`, as a call `#expect` can take (it does not take a mutating member).
    private func admit(_ backlog: inout WriteBacklog, _ count: Int, limit: Int) -> Bool {
        backlog.admit(count, limit: limit)
    }

    @Test func aClientThatTakesEachWriteIsAdmittedForEver() {
        var backlog = WriteBacklog()
        // 1,000 writes of 5 events with a queue of 10: 5,000 events in all, each write taken before the next one.
        for _ in 0..<1_000 {
            #expect(admit(&backlog, 5, limit: 10))
            backlog.completed(5)
        }
        #expect(backlog.events == 0)
    }

    @Test func oneWriteLargerThanTheQueueIsAdmittedButTheNextIsNotUntilItIsTaken() {
        var backlog = WriteBacklog()
        #expect(admit(&backlog, 48, limit: 16), "a drain of 48 events, whatever the queue, when nothing is held before it")
        #expect(backlog.events == 48)
        #expect(!admit(&backlog, 1, limit: 16), "48 events still held from before: over the queue")
        #expect(backlog.events == 48, "a refused write is not recorded")
        backlog.completed(48)
        #expect(admit(&backlog, 1, limit: 16), "taken: the next write goes")
    }

    @Test func aClientThatTakesNothingIsRefusedOnceMoreThanTheQueueIsHeld() {
        var backlog = WriteBacklog()
        var admitted = 0
        while admit(&backlog, 1, limit: 10) { admitted += 1 }
        // Ten held is within the queue, eleven is past it: the twelfth write is refused.
        #expect(admitted == 11)
        #expect(backlog.events == 11)
    }

    @Test func writesTakenPartlyLeaveWhatIsStillHeld() {
        var backlog = WriteBacklog()
        #expect(admit(&backlog, 8, limit: 10))
        #expect(admit(&backlog, 8, limit: 10))
        // The first write completes (written out; a failed write, with the channel's close, completes the same way).
        backlog.completed(8)
        #expect(backlog.events == 8)
        #expect(admit(&backlog, 8, limit: 10))
        #expect(!admit(&backlog, 1, limit: 10), "16 held")
        backlog.completed(8)
        backlog.completed(8)
        #expect(backlog.events == 0)
    }
}
