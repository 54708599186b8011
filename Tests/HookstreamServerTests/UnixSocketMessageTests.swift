import HookstreamCore
import Testing

@testable import HookstreamServer

@Suite struct UnixSocketMessageTests {
    /// Bad input: a line that names its own `peer`, `source` and `body`, as a sender allowed on the socket could, to
    /// pass for root (or for another source) with every rule that reads them. The kernel's credentials and the
    /// socket's source are what rules see; the line's own values stay under `body`.
    @Test func aLineCannotPassForAnotherPeerOrSource() throws {
        let line = Array(#"{"topic":"jobs/x","peer":{"uid":0,"gid":0,"pid":1},"source":"github","body":"forged","data":1}"#.utf8)
        let message = try UnixSocketMessage.make(line: line, source: "local", peer: UnixSocketPeer(pid: 4242, uid: 1000, gid: 100))
        #expect(try ValuePath("peer.uid").value(in: message) == .number("1000"))
        #expect(try ValuePath("peer.gid").value(in: message) == .number("100"))
        #expect(try ValuePath("peer.pid").value(in: message) == .number("4242"))
        #expect(try ValuePath("source").value(in: message) == .string("local"))
        #expect(try ValuePath("body.peer.uid").value(in: message) == .number("0"))
        #expect(try ValuePath("body.source").value(in: message) == .string("github"))
        #expect(try ValuePath("body.body").value(in: message) == .string("forged"))
        #expect(try ValuePath("topic").value(in: message) == .string("jobs/x"))
        guard case .object(let members) = message else {
            Issue.record("not an object")
            return
        }
        for name in ["peer", "source", "body"] { #expect(members.filter { $0.key == name }.count == 1, "one \(name)") }

        // Without credentials from the kernel, no `peer` at all: not the line's.
        let unknown = try UnixSocketMessage.make(line: line, source: "local", peer: nil)
        #expect(try ValuePath("peer").value(in: unknown) == nil)
    }

    /// The groups the kernel wrote into a zeroed buffer (sorted, unique) are its leading ascending entries; a lone 0
    /// is taken for padding, not for root's group.
    @Test func supplementaryGroupsAreReadFromTheirPaddedBuffer() {
        #expect(UnixSocketPeer.groups(inSortedSlots: [5, 7, 0, 0]) == [5, 7])
        #expect(UnixSocketPeer.groups(inSortedSlots: [0, 4, 9, 0]) == [0, 4, 9])
        #expect(UnixSocketPeer.groups(inSortedSlots: [0, 0, 0, 0]) == [])
        #expect(UnixSocketPeer.groups(inSortedSlots: [3]) == [3])
        #expect(UnixSocketPeer.groups(inSortedSlots: [1, 2, 3, 4]) == [1, 2, 3, 4])
    }
}
