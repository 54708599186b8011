/// The live events NIO still holds unwritten for one stream, of those written while its channel was over its
/// high-water mark: what decides whether the stream's client is behind by more than its queue.
///
/// Counting the events written under pressure is not it: the channel stays over its mark while a client that reads
/// steadily takes what is written, and one drain can hand it more events than its queue at once, which it takes a
/// moment later. So each write made over the mark is recorded here, and taken off when its promise completes (NIO
/// completes it once the last byte went to the socket, or to the HTTP/2 stream's connection, and fails it when the
/// channel closes). Writes made under the mark carry no promise and are not recorded, so a client that keeps up
/// costs nothing more.
///
/// The bound applies to the events held from *earlier* writes: a write is admitted while those are within it,
/// however many events it carries itself, so one large drain is not a cut, and a client that has not taken the
/// previous ones by the next write is.
struct WriteBacklog {
    /// Events of the recorded writes that have not completed.
    private(set) var events = 0

    /// Records a write of `count` events about to be made over the high-water mark, unless NIO still holds more than
    /// `limit` events from the recorded writes before it; returns whether it was admitted (if not, the stream is cut).
    mutating func admit(_ count: Int, limit: Int) -> Bool {
        guard events <= limit else { return false }
        events += count
        return true
    }

    /// Records a write of `count` events about to be made over the high-water mark, admitted with the others of its
    /// drain (see ``StreamSubscriber/deliver(_:firstID:lastID:coalesced:)``).
    mutating func record(_ count: Int) {
        events += count
    }

    /// A recorded write of `count` events completed (written out, or failed with the channel's close).
    mutating func completed(_ count: Int) {
        events -= count
        assert(events >= 0, "a write completed that was not recorded")
    }
}
