import HookstreamCore

/// The message a Unix-socket line's rules read: the line's own fields, `body` (the whole line), `source`, and
/// `peer` (`uid`, `gid`, `pid`) when the kernel told who sent it.
///
/// `body`, `source` and `peer` are always hookstream's: a line's own top-level fields of those names are left out
/// (they stay readable as `body.peer` and so on). Paths read the first member of a name, so a line that sent
/// `{"peer":{"uid":0}}` would otherwise have passed for root to every rule that reads `peer.uid`.
enum UnixSocketMessage {
    /// Names the message itself fills in.
    static let reservedNames: Set<String> = ["body", "source", "peer"]

    /// A line that is not a usable message.
    struct Refusal: Error {
        var message: String
    }

    static func make(line: some BidirectionalCollection<UInt8>, source: String, peer: UnixSocketPeer?) throws(Refusal) -> JSONValue {
        var bytes = line[...]
        if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        let message: JSONValue
        do {
            message = try JSONParser.parse(bytes)
        } catch {
            throw Refusal(message: "bad JSON: \(error)")
        }
        guard case .object(var members) = message else {
            throw Refusal(message: "each line must be a JSON object like {\"topic\":\"local/x\",\"data\":...}")
        }
        if let event = message["event"], event != .null, event.stringValue == nil {
            throw Refusal(message: "\"event\" must be a string")
        }
        members.removeAll { UnixSocketMessage.reservedNames.contains($0.key) }
        members.append(.init("body", message))
        members.append(.init("source", .string(source)))
        if let peer {
            members.append(
                .init(
                    "peer",
                    .object([
                        .init("uid", .number(String(peer.uid))), .init("gid", .number(String(peer.gid))), .init("pid", .number(String(peer.pid))),
                    ])))
        }
        return .object(members)
    }
}
