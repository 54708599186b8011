import HookstreamCore
import NIOCore
import NIOHTTP1

/// A complete request as an endpoint sees it.
struct HTTPRequest {
    let head: HTTPRequestHead
    let target: RequestTarget
    let body: ByteBuffer
    /// The settings in force when the request started.
    let settings: LiveSettings
    /// The path's segments that the route's wildcards matched, in order (`hooks/*/**` gives the source, then the
    /// rest of the path as one value).
    let parameters: [String]
    /// The connection's event loop, which the endpoint runs on.
    let eventLoop: any EventLoop
}
