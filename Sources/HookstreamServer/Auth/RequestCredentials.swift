import HookstreamCore
import NIOHTTP1

/// Where a request's token came from: browsers' `EventSource` cannot set headers, so a cookie and a query
/// parameter are accepted as well as `Authorization: Bearer`.
enum RequestCredentials {
    static let queryName = "access_token"

    /// The presented secret, or `nil` when the request carries none.
    /// - Parameter cookie: the cookie's name (`auth.cookie`).
    /// - Throws: ``HTTPError`` 401 for an `Authorization` header that is not a bearer token.
    static func secret(headers: HTTPHeaders, target: RequestTarget, cookie cookieName: String) throws(HTTPError) -> String? {
        if let authorization = headers.first(name: "authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
                throw HTTPError(
                    .unauthorized, code: "unauthorized", "the Authorization header must be 'Bearer <token>'",
                    headers: [("WWW-Authenticate", "Bearer")])
            }
            return String(parts[1].trimmingSpaces())
        }
        for header in headers[canonicalForm: "cookie"] {
            for cookie in header.split(separator: ";") {
                let pair = cookie.split(separator: "=", maxSplits: 1)
                if pair.count == 2, pair[0].trimmingSpaces() == cookieName {
                    return RequestTarget.percentDecode(Substring(pair[1].trimmingSpaces()), plusIsSpace: false)
                }
            }
        }
        if let value = target.value(queryName) { return value }
        return nil
    }

    /// The 401 for a request without a credential.
    static func missing(cookie: String) -> HTTPError {
        HTTPError(
            .unauthorized, code: "unauthorized",
            "a token is required: send 'Authorization: Bearer <token>', the cookie \(cookie), or ?access_token=",
            headers: [("WWW-Authenticate", "Bearer")])
    }

    /// The 401 for a credential that was refused.
    static func refused(_ failure: AuthFailure) -> HTTPError {
        let challenge = failure.isExpired ? #"Bearer error="invalid_token", error_description="the token has expired""# : #"Bearer error="invalid_token""#
        return HTTPError(.unauthorized, code: failure.isExpired ? "token_expired" : "unauthorized", failure.reason, headers: [("WWW-Authenticate", challenge)])
    }
}
