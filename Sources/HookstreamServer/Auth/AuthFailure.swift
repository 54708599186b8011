/// Why a credential was refused: a reason safe to answer and log (it never holds the credential).
struct AuthFailure: Error, Sendable, CustomStringConvertible {
    var reason: String
    /// Whether the credential was a JWT that has expired (a client should fetch a fresh one).
    var isExpired = false

    init(_ reason: String, isExpired: Bool = false) {
        self.reason = reason
        self.isExpired = isExpired
    }

    var description: String { reason }
}
