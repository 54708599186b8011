import HookstreamCore
import NIOCore
import NIOHTTP1

extension HTTPRequest {
    /// Authenticates the request like any other (Bearer header, cookie, `access_token`), then runs `body` on the
    /// request's event loop with the grant and the credential; a request without a valid credential is answered
    /// `401` through `complete`, one with the cookie alone and a body that is not JSON `415`
    /// (``RequestCredentials/cookieNeedsJSON``: every caller changes something).
    func withGrant(
        server: ServerContext, complete: @escaping @Sendable (HTTPResponse) -> Void,
        _ body: @escaping @Sendable (_ grant: Grant, _ credential: String) -> Void
    ) {
        let cookie = settings.configuration.auth.cookie
        let credential: String
        do {
            guard let presented = try RequestCredentials.presented(headers: head.headers, target: target, cookie: cookie) else {
                return complete(HTTPResponse(error: RequestCredentials.missing(cookie: cookie)))
            }
            if case .cookie = presented.source,
                head.headers.first(name: "content-type").map(WebhookMessage.mediaType) != "application/json"
            {
                return complete(HTTPResponse(error: RequestCredentials.cookieNeedsJSON))
            }
            credential = presented.secret
        } catch {
            return complete(HTTPResponse(error: error))
        }
        let authenticator = settings.authenticator
        if let grant = authenticator.staticGrant(for: credential) { return body(grant, credential) }
        guard authenticator.needsJWTCheck(credential) else {
            return complete(HTTPResponse(error: RequestCredentials.refused(AuthFailure("the token is not valid"))))
        }
        let loop = eventLoop
        let accepted = server.jobs.submit {
            let result = await authenticator.grantResult(for: credential, now: WallClock.milliseconds())
            loop.execute {
                switch result {
                case .success(let grant): body(grant, credential)
                case .failure(let failure): complete(HTTPResponse(error: RequestCredentials.refused(failure)))
                }
            }
        }
        if !accepted { complete(WebhookIngest.shuttingDown) }
    }

    /// The body as a JSON object, or a `400` saying what is wrong with it.
    func jsonObject() throws(HTTPError) -> JSONValue {
        let value: JSONValue
        do {
            value = try JSONParser.parse(body.readableBytesView)
        } catch {
            throw HTTPError(.badRequest, code: "malformed_body", "the body is not valid JSON: \(error)")
        }
        guard case .object = value else { throw HTTPError(.badRequest, code: "malformed_body", "the body must be a JSON object") }
        return value
    }
}
