import CoreMetrics
import HookstreamCore
import NIOConcurrencyHelpers
import Synchronization

/// What the daemon counts, through swift-metrics (`GET /metrics` shows it when the process bootstrapped a
/// Prometheus factory), plus the two figures systemd's `STATUS=` line shows, kept readable here.
///
/// Labels are bounded: per source, status and rule (all named in the config), never per topic.
final class ServerMetrics: Sendable {
    let streamsOpen = Meter(label: "hookstream_streams_open")
    let eventsDelivered = Counter(label: "hookstream_events_delivered_total")
    let subscribersCut = Counter(label: "hookstream_subscribers_cut_total")
    private let eventsPublished = Counter(label: "hookstream_events_published_total")
    private let reloadsApplied = Counter(label: "hookstream_config_reloads_total", dimensions: [("result", "applied")])
    private let reloadsRejected = Counter(label: "hookstream_config_reloads_total", dimensions: [("result", "rejected")])
    private let webhookCounters = NIOLockedValueBox(CounterCache<WebhookKey>())
    private let ruleCounters = NIOLockedValueBox(CounterCache<RuleKey>())

    /// Streams open now.
    let openStreams = Atomic<Int>(0)
    /// Events published since start.
    let publishedCount = Atomic<Int>(0)

    func streamOpened() {
        openStreams.add(1, ordering: .relaxed)
        streamsOpen.increment()
    }

    func streamClosed() {
        openStreams.subtract(1, ordering: .relaxed)
        streamsOpen.decrement()
    }

    func published(_ count: Int) {
        publishedCount.add(count, ordering: .relaxed)
        eventsPublished.increment(by: Int64(count))
    }

    func reloaded(applied: Bool) {
        (applied ? reloadsApplied : reloadsRejected).increment()
    }

    /// One webhook answered, by source and HTTP status.
    func webhook(source: String, status: UInt) {
        let key = WebhookKey(source: source, status: status)
        let counter = webhookCounters.withLockedValue { counters in
            counters.counter(for: key) {
                Counter(label: "hookstream_webhooks_total", dimensions: [("source", source), ("status", String(status))])
            }
        }
        counter.increment()
    }

    /// The rules that published for one message (each counted once per message).
    func matched(_ drafts: [EventDraft]) {
        // One rule publishing one event is the common case: no set of rules seen for it.
        if drafts.count == 1 { return ruleCounter(rule: drafts[0].rule, source: drafts[0].source).increment() }
        var seen: Set<String> = []
        for draft in drafts where seen.insert(draft.rule).inserted { ruleCounter(rule: draft.rule, source: draft.source).increment() }
    }

    /// By the names alone: a closure that captured the draft would copy all of it, its data too.
    private func ruleCounter(rule: String, source: String) -> Counter {
        ruleCounters.withLockedValue { counters in
            // By source too: a reload may give a rule of the same name another source, and its series is another.
            counters.counter(for: RuleKey(source: source, rule: rule)) {
                Counter(label: "hookstream_rule_matches_total", dimensions: [("source", source), ("rule", rule)])
            }
        }
    }

    private struct WebhookKey: Hashable, Sendable {
        var source: String
        var status: UInt
    }

    private struct RuleKey: Hashable, Sendable {
        var source: String
        var rule: String
    }
}
