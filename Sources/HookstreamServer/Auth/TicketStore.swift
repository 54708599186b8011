import HookstreamCore
import NIOConcurrencyHelpers

/// One-time stream tickets (`POST /tickets`): a page trades its token for a ticket and opens
/// `EventSource('/events?ticket=...')`, so no long-lived token sits in a URL. A ticket works once, within its
/// lifetime, for a subset of the topics it was issued for.
///
/// Each identity (a static token, or a JWT's subject) holds at most ``maximumPerIdentity`` unused tickets, and
/// expired ones are forgotten oldest first: issuing costs the same however many tickets are out.
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

    /// Unused tickets one identity may hold: a page needs one per stream it opens.
    static let maximumPerIdentity = 100

    private struct State {
        var tickets: [String: Ticket] = [:]
        /// Tickets in the order they were issued (lifetimes are alike, so about the order they expire), from `head`.
        var issued: [(text: String, expiresAt: Int64)] = []
        var head = 0
        /// Unused, unexpired tickets per identity.
        var outstanding: [String: Int] = [:]

        mutating func take(_ text: String) -> Ticket? {
            guard let ticket = tickets.removeValue(forKey: text) else { return nil }
            let identity = ticket.grant.identity
            if let count = outstanding[identity], count > 1 { outstanding[identity] = count - 1 } else { outstanding[identity] = nil }
            return ticket
        }

        /// Forgets the expired tickets at the front of the issue order (redeemed ones are already gone).
        mutating func forgetExpired(now: Int64) {
            while head < issued.count, issued[head].expiresAt <= now {
                _ = take(issued[head].text)
                head += 1
            }
            if head > 64 && head * 2 > issued.count {
                issued.removeFirst(head)
                head = 0
            }
        }
    }

    private let state = NIOLockedValueBox(State())

    /// Issues a ticket; returns its text (256 random bits, base64url), or `nil` when the ticket's identity already
    /// holds ``maximumPerIdentity`` unused ones.
    func issue(_ ticket: Ticket, now: Int64) -> String? {
        var random = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: random.next()) { bytes += $0 } }
        let text = BinaryText.base64String(bytes).replacingCharacters(["+": "-", "/": "_", "=": ""])
        return state.withLockedValue { state in
            state.forgetExpired(now: now)
            let identity = ticket.grant.identity
            let held = state.outstanding[identity] ?? 0
            guard held < TicketStore.maximumPerIdentity else { return nil }
            state.outstanding[identity] = held + 1
            state.tickets[text] = ticket
            state.issued.append((text, ticket.expiresAt))
            return text
        }
    }

    /// Takes the ticket `text` if it exists and has not expired: it is gone afterwards, whatever the answer.
    func redeem(_ text: String, now: Int64) -> Ticket? {
        guard let ticket = state.withLockedValue({ $0.take(text) }), ticket.expiresAt > now else { return nil }
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
