import Foundation
import NIOCore
import Testing

@testable import HookstreamCore

@Suite struct SSEEncoderTests {
    private func frame(id: EventID = 7, type: String = "message", data: String) -> String {
        var buffer = ByteBuffer()
        SSEEncoder.writeEvent(id: id, type: type, data: data, into: &buffer)
        return String(buffer: buffer)
    }

    @Test func singleLineEvent() {
        #expect(frame(data: "hello") == "id: 7\ndata: hello\n\n")
    }

    @Test func multiLineDataBecomesSeveralDataLines() {
        #expect(frame(data: "a\nb\n\nc") == "id: 7\ndata: a\ndata: b\ndata: \ndata: c\n\n")
    }

    @Test func carriageReturnAndCRLFAreLineBreaksToo() {
        // A client treats CR, LF and CRLF alike; none may survive inside a data line.
        #expect(frame(data: "a\r\nb\rc\nd") == "id: 7\ndata: a\ndata: b\ndata: c\ndata: d\n\n")
        #expect(frame(data: "trailing\r\n") == "id: 7\ndata: trailing\ndata: \n\n")
    }

    @Test func unicodeIsKeptAsUTF8() {
        let text = "héllo 👋🏽 世界\u{301}"
        #expect(frame(data: text) == "id: 7\ndata: \(text)\n\n")
    }

    @Test func leadingSpaceInDataSurvivesTheClientsStrip() {
        // Clients remove exactly one space after "data:"; ours is that space.
        #expect(frame(data: "  indented") == "id: 7\ndata:   indented\n\n")
    }

    @Test func eventTypeCannotInjectLines() {
        #expect(frame(type: "evil\ndata: injected", data: "x") == "id: 7\nevent: evil data: injected\ndata: x\n\n")
    }

    @Test func emptyOrDefaultTypeOmitsTheEventField() {
        // A client dispatches an event without `event:` as "message": the line would only cost bytes and parsing.
        #expect(frame(type: "", data: "x") == "id: 7\ndata: x\n\n")
        #expect(frame(type: "message", data: "x") == "id: 7\ndata: x\n\n")
        #expect(frame(type: "deploy", data: "x") == "id: 7\nevent: deploy\ndata: x\n\n")
        #expect(frame(type: "Message", data: "x") == "id: 7\nevent: Message\ndata: x\n\n", "types are case-sensitive")
    }

    @Test func commentsAndRetry() {
        var buffer = ByteBuffer()
        SSEEncoder.writeRetry(milliseconds: 3000, into: &buffer)
        SSEEncoder.writeComment("heartbeat", into: &buffer)
        #expect(String(buffer: buffer) == "retry: 3000\n: heartbeat\n\n")
    }

    @Test func framesParseBackToTheSameData() {
        // Parse with the algorithm of the HTML standard (line split on CR, LF, CRLF; strip one leading space).
        let inputs = ["plain", "multi\nline", "cr\rline", "crlf\r\nline", "{\"json\":\"with \\n escape\"}", "ünï\ncødé 😀"]
        for input in inputs {
            let parsed = SSEEncoderTests.parseData(frame(data: input))
            let normalised = input.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            #expect(parsed == normalised)
        }
    }

    static func parseData(_ stream: String) -> String {
        var data: [String] = []
        for line in SSEEncoder.lines(of: stream) where line.hasPrefix("data:") {
            var value = line.dropFirst(5)
            if value.first == " " { value = value.dropFirst() }
            data.append(String(value))
        }
        return data.joined(separator: "\n")
    }
}
