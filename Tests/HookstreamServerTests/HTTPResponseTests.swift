import NIOCore
import NIOHTTP1
import Testing

@testable import HookstreamServer

@Suite struct HTTPResponseTests {
    /// The common answers' status lines are written whole; each must be what the status says, as for the others.
    @Test(arguments: [
        HTTPResponseStatus.ok, .accepted, .noContent, .badRequest, .unauthorized, .forbidden, .notFound, .payloadTooLarge, .tooManyRequests,
    ])
    func theHeadIsTheStatusTheHeadersAndTheLength(status: HTTPResponseStatus) {
        let response = HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: status == .noContent ? "" : "{}\n")
        let bytes = response.encode(keepAlive: true, extraHeaders: [("Vary", "Origin")], allocator: ByteBufferAllocator())
        let text = String(buffer: bytes)
        let length = status == .noContent ? "" : "Content-Length: 3\r\n"
        let body = status == .noContent ? "" : "{}\n"
        #expect(
            text == "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: application/json\r\nVary: Origin\r\n\(length)Connection: keep-alive\r\n\r\n\(body)")
        let closing = String(buffer: response.encode(keepAlive: false, includeBody: false, allocator: ByteBufferAllocator()))
        #expect(closing.hasSuffix("Connection: close\r\n\r\n") && closing.hasPrefix("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"))
    }
}
