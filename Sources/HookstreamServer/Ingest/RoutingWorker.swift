import HookstreamCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A thread of its own for the messages whose regex tests need more steps than the event loop, or a task of
/// Swift's shared pool, gives them (``regexStepsInPlace``): routed here with all of `server.limits.regex_steps`,
/// such a message holds neither a loop's streams and requests nor the tasks that resume streams, apply reloads and
/// answer systemd's watchdog. At most ``maximumWaiting`` are routed or wait at once; past them a message is refused
/// for a moment.
/// At shutdown the searches under way are abandoned, so that a stop never waits for them.
final class RoutingWorker: Service, Sendable {
    /// The steps a message's rules may take where it arrived (a few milliseconds): on the event loop for a webhook,
    /// in the connection's task for a Unix socket line.
    static let regexStepsInPlace = 1_000_000
    /// Messages routed or waiting here at once.
    static let maximumWaiting = 16

    /// Why a message was not routed here.
    enum Refusal: Error, CustomStringConvertible {
        /// ``maximumWaiting`` messages are routed or waiting already.
        case busy
        /// The daemon is shutting down.
        case shuttingDown

        var description: String {
            switch self {
            case .busy:
                "\(RoutingWorker.maximumWaiting) messages whose regex tests need more than \(RoutingWorker.regexStepsInPlace) steps are being routed already; retry in a moment"
            case .shuttingDown: "the server is shutting down"
            }
        }
    }

    /// A message's events: known at once, or once the routing thread is done with it.
    enum Routed {
        case now([EventDraft])
        case later(EventLoopFuture<[EventDraft]>)
    }

    private let pool = NIOThreadPool(numberOfThreads: 1)
    private let abandonment = RegexAbandonment()
    private let waiting = NIOLockedValueBox((count: 0, refusals: RefusalLog()))
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
        pool.start()
    }

    func run() async throws {
        try? await gracefulShutdown()
        abandon()
        try await pool.shutdownGracefully()
    }

    /// Stops the searches under way and those to come: the messages get ``Refusal/shuttingDown``. Called as soon as
    /// a stop begins (by the listeners too, which stop before this service would be told): a stop must not wait for
    /// a search that may take seconds, nor a listener for a line whose search waits behind others.
    func abandon() {
        abandonment.abandon()
    }

    /// Routes `message` from `source` as `engine` does: here, within ``regexStepsInPlace`` steps, or else on the
    /// routing thread with all of `engine`'s (``Routed/later(_:)``, whose result comes on `eventLoop`).
    /// - Throws: ``RoutingError`` when the message cannot be routed within the steps taken here, and needs no more.
    func route(_ message: JSONValue, source: String, engine: RuleEngine, logger: Logger, on eventLoop: any EventLoop) throws(RoutingError) -> Routed {
        var budget = RegexBudget(limit: min(engine.regexSteps, RoutingWorker.regexStepsInPlace))
        do {
            let drafts = try engine.route(source: source, message: message, budget: &budget)
            // Routed although a search was given up: its condition held or failed by another test, which more steps
            // would not change (once one search is given up, so is every later one). With all of the message's steps
            // given, that is worth the journal's warning; with fewer, the search might have ended in time.
            if budget.limit == engine.regexSteps {
                engine.warnOfSearchGivenUp(in: budget, source: source, logger: logger)
            } else if let search = budget.firstGivenUp {
                logger.debug(
                    "A rule's condition was decided without a regex search that needed more steps than the message got where it arrived",
                    metadata: ["hookstream.source": "\(source)", "hookstream.rule": "\(search.rule ?? "unknown")"])
            }
            return .now(drafts)
        } catch {
            guard budget.firstGivenUp != nil, budget.limit < engine.regexSteps else { throw error }
        }
        return .later(routeOnThread(message, source: source, engine: engine, logger: logger, on: eventLoop))
    }

    /// Routes `message` with all of `engine`'s steps on the routing thread. Fails with ``Refusal`` when it cannot be
    /// taken, or when it was abandoned at shutdown; with ``RoutingError`` as routing does.
    private func routeOnThread(_ message: JSONValue, source: String, engine: RuleEngine, logger: Logger, on eventLoop: any EventLoop) -> EventLoopFuture<[EventDraft]> {
        // Taken: a place for the message; otherwise, when it is time to log the refusals, how many there were.
        let (taken, refusalsToLog) = waiting.withLockedValue { state -> (Bool, Int?) in
            guard state.count < RoutingWorker.maximumWaiting else { return (false, state.refusals.count(now: NIODeadline.now().uptimeNanoseconds)) }
            state.count += 1
            return (true, nil)
        }
        guard taken else {
            if let refusalsToLog {
                logger.warning(
                    "Messages refused: the routing thread has as many messages as it may hold",
                    metadata: ["hookstream.source": "\(source)", "waiting": "\(RoutingWorker.maximumWaiting)", "refused": "\(refusalsToLog)"])
            }
            return eventLoop.makeFailedFuture(Refusal.busy)
        }
        logger.debug(
            "Routing on the routing thread: the message's regex tests take more steps than it got where it arrived",
            metadata: ["hookstream.source": "\(source)", "steps": "\(RoutingWorker.regexStepsInPlace)"])
        let abandonment = self.abandonment
        let routed = pool.runIfActive(eventLoop: eventLoop) { () throws -> [EventDraft] in
            if abandonment.isAbandoned { throw Refusal.shuttingDown }
            var budget = RegexBudget(limit: engine.regexSteps, abandonment: abandonment)
            do {
                let drafts = try engine.route(source: source, message: message, budget: &budget)
                if budget.isAbandoned { throw Refusal.shuttingDown }
                engine.warnOfSearchGivenUp(in: budget, source: source, logger: logger)
                return drafts
            } catch {
                if budget.isAbandoned { throw Refusal.shuttingDown }
                throw error
            }
        }
        routed.whenComplete { _ in self.waiting.withLockedValue { $0.count -= 1 } }
        return routed.flatMapErrorThrowing { error in
            throw error is NIOThreadPoolError.ThreadPoolInactive ? Refusal.shuttingDown : error
        }
    }
}
