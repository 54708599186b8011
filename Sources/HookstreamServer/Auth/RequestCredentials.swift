import HookstreamCore
import NIOHTTP1

/// Where a request's token came from: browsers' `EventSource` cannot set headers, so a cookie and a query
/// parameter are accepted as well as `Authorization: Bearer`.
enum RequestCredentials {
    static let queryName = "access_token"

    /// Where a presented secret came from.
    enum Source: Sendable {
        case header, cookie, query
    }

    /// The presented secret, or `nil` when the request carries none.
    /// - Parameter cookie: the cookie's name (`auth.cookie`).
    /// - Throws: ``HTTPError`` 401 for an `Authorization: Bearer` header without a token.
    static func secret(headers: HTTPHeaders, target: RequestTarget, cookie cookieName: String) throws(HTTPError) -> String? {
        try presented(headers: headers, target: target, cookie: cookieName)?.secret
    }

    /// The presented secret and where it came from, or `nil` when the request carries none.
    ///
    /// An `Authorization: Bearer` header comes first, then `?access_token=` (a page's explicit choice), then the
    /// cookie (sent by the browser whatever the page meant, and possibly stale). An `Authorization` header of
    /// another scheme is not hookstream's: a proxy in front with basic auth makes the browser send
    /// `Authorization: Basic` with every request, its `EventSource`s included, so it is passed over, not refused.
    static func presented(
        headers: HTTPHeaders, target: RequestTarget, cookie cookieName: String
    ) throws(HTTPError) -> (secret: String, source: Source)? {
        if let authorization = headers.first(name: "authorization") {
            let parts = authorization.trimmingSpaces().split(separator: " ", maxSplits: 1)
            if let scheme = parts.first, scheme.lowercased() == "bearer" {
                guard parts.count == 2, !parts[1].trimmingSpaces().isEmpty else {
                    throw HTTPError(
                        .unauthorized, code: "unauthorized", "the Authorization header must be 'Bearer <token>'",
                        headers: [("WWW-Authenticate", "Bearer")])
                }
                return (String(parts[1].trimmingSpaces()), .header)
            }
        }
        if let value = target.value(queryName) { return (value, .query) }
        for header in headers[canonicalForm: "cookie"] {
            for cookie in header.split(separator: ";") {
                let pair = cookie.split(separator: "=", maxSplits: 1)
                if pair.count == 2, pair[0].trimmingSpaces() == cookieName {
                    return (RequestTarget.percentDecode(Substring(pair[1].trimmingSpaces()), plusIsSpace: false), .cookie)
                }
            }
        }
        return nil
    }

    /// The 415 for a request that changes something (`POST /publish`, `POST /tickets`) with the cookie as its only
    /// credential and a body that is not `application/json`. A browser sends the cookie with any page's form or
    /// `text/plain` fetch, without asking first; a JSON body from another origin it sends only after a CORS preflight
    /// that `cors.origins` allows. So another site (or a sibling subdomain the cookie is shared with) cannot publish,
    /// or use up tickets, with a visitor's cookie.
    static let cookieNeedsJSON = HTTPError(
        .unsupportedMediaType, code: "unsupported_media_type",
        "a request authenticated by the cookie must send Content-Type: application/json (so that browsers ask first, by CORS, whether its page may)")

    /// The 403 for a stream authenticated by the cookie from a page of another origin that `cors.origins` does not
    /// list. The browser sends the cookie (from a sibling subdomain it is shared with, or anywhere when it is
    /// `SameSite=None`) and CORS keeps that page from reading the stream, but the stream would still be opened and
    /// count against the user's `max_streams_per_token`: another site could use up the real app's places.
    static func foreignOrigin(_ origin: String?) -> HTTPError {
        HTTPError(
            .forbidden, code: "origin_not_allowed",
            "the cookie is accepted from this server's own pages and the origins in cors.origins; \(origin.map { "\($0) is" } ?? "this request's page is") neither")
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
