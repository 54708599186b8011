/// What one append wrote to the ``AppendLog``: its events, numbered, the topics they introduced and the deliveries
/// they answer. The store applies entries to SQLite whole, several per transaction, and in log order.
struct AppendLogEntry: Sendable, Equatable {
    var events: [Event]
    var newTopics: [String]
    var deliveries: [Delivery]

    /// A delivery remembered with the entry's events.
    struct Delivery: Sendable, Equatable {
        var key: DeliveryKey
        var record: DeliveryRecord
    }

    /// The bytes of an entry could not be read back: the log was changed by something else than the store.
    struct Malformed: Error {}

    // Layout, little-endian: event count, then per event id (8 bytes), time (8), is_json (1) and the strings topic,
    // type, data, source; topic count and topics; delivery count, then per delivery source, id, time, the ids
    // (count, 8 bytes each) and the topics (count, strings). A string is its UTF-8 length (4 bytes) and bytes.

    /// Appends the entry's encoding to `bytes`.
    func encode(into bytes: inout [UInt8]) {
        Self.put(UInt32(events.count), &bytes)
        for event in events {
            Self.put(UInt64(event.id), &bytes)
            Self.put(UInt64(bitPattern: event.timestamp), &bytes)
            bytes.append(event.data.isJSON ? 1 : 0)
            Self.put(event.topic, &bytes)
            Self.put(event.type, &bytes)
            Self.put(event.data.text, &bytes)
            Self.put(event.source, &bytes)
        }
        Self.put(UInt32(newTopics.count), &bytes)
        for topic in newTopics { Self.put(topic, &bytes) }
        Self.put(UInt32(deliveries.count), &bytes)
        for delivery in deliveries {
            Self.put(delivery.key.source, &bytes)
            Self.put(delivery.key.id, &bytes)
            Self.put(UInt64(bitPattern: delivery.record.time), &bytes)
            Self.put(UInt32(delivery.record.ids.count), &bytes)
            for id in delivery.record.ids { Self.put(UInt64(id), &bytes) }
            Self.put(UInt32(delivery.record.topics.count), &bytes)
            for topic in delivery.record.topics { Self.put(topic, &bytes) }
        }
    }

    private static func put<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func put(_ string: String, _ bytes: inout [UInt8]) {
        put(UInt32(string.utf8.count), &bytes)
        bytes.append(contentsOf: string.utf8)
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        var isAtEnd: Bool { offset == bytes.count }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(Malformed) -> T {
            let size = MemoryLayout<T>.size
            guard bytes.count - offset >= size else { throw Malformed() }
            var value = T.zero
            withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size])) }
            offset += size
            return T(littleEndian: value)
        }

        /// A count of items that follow: each takes at least one byte, so a count larger than what is left is corrupt.
        mutating func count() throws(Malformed) -> Int {
            let count = Int(try integer(UInt32.self))
            guard count <= bytes.count - offset else { throw Malformed() }
            return count
        }

        mutating func string() throws(Malformed) -> String {
            let length = Int(try integer(UInt32.self))
            guard bytes.count - offset >= length else { throw Malformed() }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]), as: UTF8.self)
            offset += length
            return text
        }
    }
}

extension AppendLogEntry {
    /// Reads an entry back from exactly the bytes ``encode(into:)`` wrote.
    init(decoding bytes: UnsafeRawBufferPointer) throws(Malformed) {
        var reader = Reader(bytes: bytes)
        var events: [Event] = []
        for _ in 0..<(try reader.count()) {
            let id = EventID(try reader.integer(UInt64.self))
            let timestamp = Int64(bitPattern: try reader.integer(UInt64.self))
            let isJSON = try reader.integer(UInt8.self) == 1
            let topic = try reader.string()
            let type = try reader.string()
            let text = try reader.string()
            let source = try reader.string()
            events.append(Event(id: id, topic: topic, type: type, data: isJSON ? .json(text) : .text(text), timestamp: timestamp, source: source))
        }
        var topics: [String] = []
        for _ in 0..<(try reader.count()) { topics.append(try reader.string()) }
        var deliveries: [Delivery] = []
        for _ in 0..<(try reader.count()) {
            let key = DeliveryKey(source: try reader.string(), id: try reader.string())
            let time = Int64(bitPattern: try reader.integer(UInt64.self))
            var ids: [EventID] = []
            for _ in 0..<(try reader.count()) { ids.append(EventID(try reader.integer(UInt64.self))) }
            var deliveryTopics: [String] = []
            for _ in 0..<(try reader.count()) { deliveryTopics.append(try reader.string()) }
            deliveries.append(Delivery(key: key, record: DeliveryRecord(ids: ids, topics: deliveryTopics, time: time)))
        }
        guard reader.isAtEnd else { throw Malformed() }
        self.init(events: events, newTopics: topics, deliveries: deliveries)
    }
}
