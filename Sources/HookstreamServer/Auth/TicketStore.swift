import HookstreamCore
import NIOConcurrencyHelpers

/// One-time stream tickets (`POST /tickets`): a page trades its token for a ticket and opens
/// `EventSource('/events?ticket=...')`, so no long-lived token sits in a URL. A ticket works once, within its
/// lifetime, for a subset of the topics it was issued for.
final class TicketStore: Sendable {
    struct Ticket: Sendable {
        /// The grant of the credential it was issued for.
        var grant: Grant
        /// The topics it may open.
        var topics: TopicFilter
        /// The credential it was issued for: a stream opened with it is checked again with this on reload.
        var credential: String
        var expiresAt: Int64
    }

    private let tickets = NIOLockedValueBox<[String: Ticket]>([:])

    /// Issues a ticket; returns its text (256 random bits, base64url).
    func issue(_ ticket: Ticket, now: Int64) -> String {
        var random = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: random.next()) { bytes += $0 } }
        let text = BinaryText.base64String(bytes).replacingCharacters(["+": "-", "/": "_", "=": ""])
        tickets.withLockedValue { tickets in
            tickets = tickets.filter { $0.value.expiresAt > now }  // forget the unused ones that expired
            tickets[text] = ticket
        }
        return text
    }

    /// Takes the ticket `text` if it exists and has not expired: it is gone afterwards, whatever the answer.
    func redeem(_ text: String, now: Int64) -> Ticket? {
        guard let ticket = tickets.withLockedValue({ $0.removeValue(forKey: text) }), ticket.expiresAt > now else { return nil }
        return ticket
    }
}

extension String {
    fileprivate func replacingCharacters(_ map: [Character: String]) -> String {
        var out = ""
        for character in self { out += map[character] ?? String(character) }
        return out
    }
}
