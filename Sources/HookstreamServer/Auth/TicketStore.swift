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
        /// The settings its grant was decided under: redeemed after a reload, its credential is checked again under
        /// the settings in force (the reload's own check of open streams has come and gone by then).
        var settings: LiveSettings
    }

    /// Unused tickets one identity may hold: a page needs one per stream it opens.
    static let maximumPerIdentity = 100

    private struct Issued {
        var text: String
        var identity: String
        var expiresAt: Int64
    }

    private struct State {
        var tickets: [String: Ticket] = [:]
        /// Each identity's tickets in issue order, some of them perhaps used or expired already.
        var byIdentity: [String: [Issued]] = [:]
        /// Every ticket in issue order, from `head`: lifetimes are alike, so about the order they expire.
        var issued: [Issued] = []
        var head = 0

        /// How many unused, unexpired tickets `identity` holds; its list keeps only those.
        mutating func held(by identity: String, now: Int64) -> Int {
            guard var list = byIdentity[identity] else { return 0 }
            list.removeAll { entry in
                guard tickets[entry.text] != nil else { return true }  // used
                guard entry.expiresAt <= now else { return false }
                tickets[entry.text] = nil
                return true
            }
            byIdentity[identity] = list.isEmpty ? nil : list
            return list.count
        }

        /// Forgets the expired tickets at the front of the issue order, and the lists of identities left with none,
        /// so that identities that stop asking leave nothing behind. (A ticket with a longer lifetime at the front
        /// holds the ones behind it until it expires; each identity's own count does not wait for it.)
        mutating func forgetExpired(now: Int64) {
            while head < issued.count, issued[head].expiresAt <= now {
                let entry = issued[head]
                tickets[entry.text] = nil
                _ = held(by: entry.identity, now: now)
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
            guard state.held(by: identity, now: now) < TicketStore.maximumPerIdentity else { return nil }
            let entry = Issued(text: text, identity: identity, expiresAt: ticket.expiresAt)
            state.tickets[text] = ticket
            state.byIdentity[identity, default: []].append(entry)
            state.issued.append(entry)
            return text
        }
    }

    /// Takes the ticket `text` if it exists and has not expired: it is gone afterwards, whatever the answer.
    func redeem(_ text: String, now: Int64) -> Ticket? {
        guard let ticket = state.withLockedValue({ $0.tickets.removeValue(forKey: text) }), ticket.expiresAt > now else { return nil }
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

extension TicketStore.Ticket: CustomStringConvertible {
    /// Its topics and lifetime, never the credential it was issued for (a value interpolated into a log line).
    var description: String { "Ticket(topics: \(topics), expires at: \(expiresAt) ms, credential: <hidden>)" }
}
