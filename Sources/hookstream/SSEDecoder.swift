/// Parses a `text/event-stream` body as the HTML standard says, fed byte chunks as they arrive.
struct SSEDecoder {
    /// One dispatched event.
    struct Event {
        var id: String?
        var type: String
        var data: String
    }

    private var line: [UInt8] = []
    private var lastWasCR = false
    private var data: [String] = []
    private var hasData = false
    private var type = ""
    /// The `id:` of the block being read: it becomes ``lastEventID`` only when the block ends, so a connection cut
    /// inside an event does not skip it on the resume.
    private var pendingID: String?
    /// The last event id dispatched, or set by a block without data (what `Last-Event-ID` resumes from).
    private(set) var lastEventID: String?
    /// The last `retry:` in milliseconds.
    private(set) var retry: Int?

    /// Feeds bytes; returns the events they completed.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") && lastWasCR {
                lastWasCR = false
                continue
            }
            lastWasCR = byte == UInt8(ascii: "\r")
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if let event = process(String(decoding: line, as: UTF8.self)) { events.append(event) }
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(byte)
            }
        }
        return events
    }

    private mutating func process(_ line: String) -> Event? {
        if line.isEmpty {
            defer {
                data = []
                hasData = false
                type = ""
            }
            // The spec's "last event ID buffer" is kept from block to block, and its "last event ID string" set from
            // it at each dispatch, even of a block without data.
            lastEventID = pendingID
            guard hasData else { return nil }
            return Event(id: lastEventID, type: type.isEmpty ? "message" : type, data: data.joined(separator: "\n"))
        }
        if line.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(line)
            value = ""
        }
        switch field {
        case "data":
            data.append(String(value))
            hasData = true
        case "event": type = String(value)
        case "id" where !value.contains("\u{0}"): pendingID = String(value)
        case "retry": if let ms = Int(value), ms >= 0 { retry = ms }
        default: break
        }
        return nil
    }
}
