import HookstreamCore
import NIOCore
import Testing

@testable import HookstreamServer

@Suite struct SubscriptionStateTests {
    private func live(_ id: EventID) -> EncodedEvent { EncodedEvent(id: id, topic: "t", frame: ByteBuffer()) }
    private func stored(_ ids: ClosedRange<EventID>) -> [Event] {
        ids.map { Event(id: $0, topic: "t", type: "m", data: .text(""), timestamp: 0, source: "s") }
    }

    @Test func withoutResumeEverythingIsLive() {
        var state = SubscriptionState(resumingAfter: nil, bufferLimit: 10)
        #expect(state.isLive)
        let r1 = state.offerLive(live(1))
        #expect(r1)
        let r2 = state.offerLive(live(2))
        #expect(r2)
        let r3 = state.offerLive(live(2))
        #expect(!r3, "a duplicate id is never written twice")
    }

    @Test func liveEventsDuringReplayAreHeldThenDeduplicated() {
        var state = SubscriptionState(resumingAfter: 3, bufferLimit: 10)
        // Events 6 and 7 were published after the subscriber registered: they arrive live while replay runs.
        let r4 = state.offerLive(live(6))
        #expect(!r4)
        let r5 = state.offerLive(live(7))
        #expect(!r5)
        // The store read saw 4...6 (6 was stored before the read, and is also in the live buffer).
        let r6 = state.replayed(stored(4...6))
        #expect(r6.map(\.id) == [4, 5, 6])
        let flushed = state.finishReplay()
        #expect(flushed?.map(\.id) == [7], "6 came by replay; only 7 is left from the buffer")
        #expect(state.isLive)
        let r7 = state.offerLive(live(7))
        #expect(!r7)
        let r8 = state.offerLive(live(8))
        #expect(r8)
        #expect(state.lastDeliveredID == 8)
    }

    @Test func overflowDuringReplayMeansReadTheStoreAgain() {
        var state = SubscriptionState(resumingAfter: 0, bufferLimit: 2)
        for id in 101...105 {
            let accepted = state.offerLive(live(EventID(id)))
            #expect(!accepted)
        }
        let r9 = state.replayed(stored(1...100))
        #expect(r9.count == 100)
        let r10 = state.finishReplay()
        #expect(r10 == nil, "the buffer lost events, so the replay must continue from the store")
        #expect(state.lastDeliveredID == 100)
        let r11 = state.replayed(stored(101...105))
        #expect(r11.map(\.id) == [101, 102, 103, 104, 105])
        let r12 = state.offerLive(live(106))
        #expect(!r12)
        let r13 = state.finishReplay()
        #expect(r13?.map(\.id) == [106])
    }

    @Test func aResumePointBeyondTheStoreIsLowered() {
        var state = SubscriptionState(resumingAfter: 500, bufferLimit: 10)
        state.clampResumePoint(toAtMost: 20)
        #expect(state.lastDeliveredID == 20)
        let r14 = state.replayed([])
        #expect(r14.isEmpty)
        let r15 = state.finishReplay()
        #expect(r15?.isEmpty == true)
        let r16 = state.offerLive(live(21))
        #expect(r16)
    }
}
