import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One event as a client sees it.
struct ReceivedEvent: Sendable, Equatable {
    var id: String?
    var event: String
    var data: String
}

/// A line-oriented SSE parser following the HTML standard's algorithm, fed with AsyncHTTPClient's body chunks.
struct SSEParser {
    private var pending: [UInt8] = []
    private var lastWasCR = false
    private var data: [String] = []
    private var eventType = ""
    private var lastID: String?
    private var hasData = false
    private(set) var comments: [String] = []
    private(set) var retry: Int?

    mutating func feed(_ buffer: ByteBuffer) -> [ReceivedEvent] {
        var events: [ReceivedEvent] = []
        for byte in buffer.readableBytesView {
            if byte == UInt8(ascii: "\n") && lastWasCR {
                lastWasCR = false
                continue
            }
            lastWasCR = byte == UInt8(ascii: "\r")
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if let event = processLine(String(decoding: pending, as: UTF8.self)) { events.append(event) }
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
        return events
    }

    private mutating func processLine(_ line: String) -> ReceivedEvent? {
        if line.isEmpty {
            defer {
                data = []
                eventType = ""
                hasData = false
            }
            guard hasData else { return nil }
            return ReceivedEvent(id: lastID, event: eventType.isEmpty ? "message" : eventType, data: data.joined(separator: "\n"))
        }
        if line.hasPrefix(":") {
            comments.append(String(line.dropFirst()).trimmingCharacters(in: .whitespaces))
            return nil
        }
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(line)
            value = ""
        }
        switch field {
        case "data":
            data.append(String(value))
            hasData = true
        case "event": eventType = String(value)
        case "id": lastID = String(value)
        case "retry": retry = Int(value)
        default: break
        }
        return nil
    }
}

/// An open event stream read with AsyncHTTPClient.
final class SSEStream: @unchecked Sendable {
    /// Streams hold their connection for long: a client of its own, with room for many at once.
    static let streamingClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))

    let response: HTTPClientResponse
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private(set) var parser = SSEParser()
    private var ready: [ReceivedEvent] = []

    static func open(_ url: String, headers: [(String, String)] = []) async throws -> SSEStream {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await streamingClient.execute(request, timeout: .seconds(600))
        return SSEStream(response: response)
    }

    private init(response: HTTPClientResponse) {
        self.response = response
        self.iterator = response.body.makeAsyncIterator()
    }

    /// The next event, or `nil` when the stream ends.
    func next() async throws -> ReceivedEvent? {
        while ready.isEmpty {
            guard let chunk = try await iterator.next() else { return nil }
            ready.append(contentsOf: parser.feed(chunk))
        }
        return ready.removeFirst()
    }

    /// Reads until `done` holds for the events so far, or throws after `timeout`.
    func collect(timeout: Duration = .seconds(30), until done: @escaping @Sendable ([ReceivedEvent]) -> Bool) async throws -> [ReceivedEvent] {
        try await withThrowingTaskGroup(of: [ReceivedEvent]?.self) { group in
            group.addTask {
                var events: [ReceivedEvent] = []
                while !done(events) {
                    guard let event = try await self.next() else { return events }
                    events.append(event)
                }
                return events
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            guard let events = first else { throw HarnessError("timed out after \(timeout) reading the event stream") }
            return events
        }
    }
}

extension HTTPClient {
    /// A request with a string body; returns the status, headers and body text.
    func send(_ method: HTTPMethod, _ url: String, body: String? = nil, headers: [(String, String)] = []) async throws -> (status: UInt, headers: HTTPHeaders, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return (response.status.code, response.headers, String(buffer: bytes))
    }

    /// Posts a JSON webhook to the demo source (or another) and returns the ids it published.
    func postWebhook(_ daemon: Daemon, source: String = "demo", json: String) async throws -> [Int] {
        let response = try await send(.POST, "\(daemon.baseURL)/hooks/\(source)", body: json, headers: [("Content-Type", "application/json")])
        guard response.status == 202 else { throw HarnessError("webhook answered \(response.status): \(response.body)") }
        let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
        return (object?["ids"] as? [Int]) ?? []
    }
}
