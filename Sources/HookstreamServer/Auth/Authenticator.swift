public import HookstreamCore

/// Finds the ``AccessToken`` a secret belongs to, comparing in constant time so that timing reveals nothing.
public struct Authenticator: Sendable {
    private let tokens: [AccessToken]

    public init(tokens: [AccessToken]) { self.tokens = tokens }

    /// The token whose secret is `secret`, if any.
    public func token(forSecret secret: String) -> AccessToken? {
        let presented = Array(secret.utf8)
        var found: AccessToken?
        // Compare against every token, not stopping at a match, so the time does not depend on which one it is.
        for token in tokens where Authenticator.constantTimeEquals(Array(token.secret.utf8), presented) {
            found = token
        }
        return found
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}
