import HookstreamCore
import Testing

@testable import HookstreamServer

/// The per-identity cap of unused tickets, with the clock given.
@Suite struct TicketStoreTests {
    private let settings: LiveSettings

    init() async throws {
        settings = try await LiveSettings.make(Configuration())
    }

    private func ticket(_ identity: String, expiresAt: Int64) -> TicketStore.Ticket {
        let grant = Grant(name: identity, identity: identity, subscribe: TopicFilter([]), publish: TopicFilter([]), expiresAt: nil)
        return TicketStore.Ticket(grant: grant, topics: TopicFilter([]), credential: "secret", expiresAt: expiresAt, settings: settings)
    }

    @Test func usedAndExpiredTicketsMakeRoomAndOtherIdentitiesAreApart() {
        let store = TicketStore()
        var texts: [String] = []
        for _ in 1...TicketStore.maximumPerIdentity { texts.append(try! #require(store.issue(ticket("a", expiresAt: 30_000), now: 0))) }
        #expect(store.issue(ticket("a", expiresAt: 30_000), now: 0) == nil, "the 101st")
        #expect(store.issue(ticket("b", expiresAt: 30_000), now: 0) != nil, "another identity")
        #expect(store.redeem(texts[0], now: 1) != nil)
        #expect(store.redeem(texts[0], now: 1) == nil, "once")
        #expect(store.issue(ticket("a", expiresAt: 30_000), now: 1) != nil, "a used one made room")
        #expect(store.issue(ticket("a", expiresAt: 30_000), now: 1) == nil)
        #expect(store.issue(ticket("a", expiresAt: 60_000), now: 30_000) != nil, "the expired ones made room")
        #expect(store.redeem(texts[1], now: 30_000) == nil, "and cannot be used")
    }

    /// A ticket with a long lifetime issued first (a reload shortened `auth.ticket_ttl` after it) does not keep the
    /// expired tickets issued after it counting against their identity.
    @Test func aLongLivedTicketDoesNotHoldBackTheCountOfShorterOnes() {
        let store = TicketStore()
        #expect(store.issue(ticket("x", expiresAt: 3_600_000), now: 0) != nil)
        for _ in 1...TicketStore.maximumPerIdentity { #expect(store.issue(ticket("a", expiresAt: 30_000), now: 0) != nil) }
        #expect(store.issue(ticket("a", expiresAt: 30_000), now: 0) == nil)
        #expect(store.issue(ticket("a", expiresAt: 60_000), now: 30_000) != nil)
    }
}
