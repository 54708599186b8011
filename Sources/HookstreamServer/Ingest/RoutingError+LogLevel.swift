import HookstreamCore
import Logging

extension RoutingError {
    /// The level a rejected message is logged at: a sender's message that the rules cannot route is `info`; a rule
    /// whose regex searches were given up is the operator's to fix (its pattern is too costly for the values it
    /// reads), so a `warning`.
    var logLevel: Logger.Level {
        if case .regexSearchGivenUp = reason { return .warning }
        return .info
    }
}
