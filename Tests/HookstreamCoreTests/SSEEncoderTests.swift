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

    /// A slow subscriber's stream is cut wherever the kernel had got to, mid-frame. Debian's node-eventsource (2.0)
    /// takes an `id:` line as its last id when it reads it, not at dispatch: with the id first, a frame cut after that
    /// line made it resume after an event it never had (a reviewer lost one event in two of three cuts). With the id
    /// last, of every cut inside a frame only the one just before the blank line leaves a complete `id:` line.
    @Test func aFrameCutAnywhereButItsLastByteLeavesNoCompleteIDLine() {
        let whole = Array(frame(type: "deploy", data: "a\nb").utf8)
        for end in 0..<whole.count - 1 {
            let cut = String(decoding: whole[..<end], as: UTF8.self)
            #expect(!cut.split(separator: "\n", omittingEmptySubsequences: false).dropLast().contains("id: 7"), "cut at \(end): \(cut)")
        }
    }

    @Test func singleLineEvent() {
        #expect(frame(data: "hello") == "data: hello\nid: 7\n\n")
    }

    @Test func multiLineDataBecomesSeveralDataLines() {
        #expect(frame(data: "a\nb\n\nc") == "data: a\ndata: b\ndata: \ndata: c\nid: 7\n\n")
    }

    @Test func carriageReturnAndCRLFAreLineBreaksToo() {
        // A client treats CR, LF and CRLF alike; none may survive inside a data line.
        #expect(frame(data: "a\r\nb\rc\nd") == "data: a\ndata: b\ndata: c\ndata: d\nid: 7\n\n")
        #expect(frame(data: "trailing\r\n") == "data: trailing\ndata: \nid: 7\n\n")
    }

    @Test func unicodeIsKeptAsUTF8() {
        let text = "héllo 👋🏽 世界\u{301}"
        #expect(frame(data: text) == "data: \(text)\nid: 7\n\n")
    }

    @Test func leadingSpaceInDataSurvivesTheClientsStrip() {
        // Clients remove exactly one space after "data:"; ours is that space.
        #expect(frame(data: "  indented") == "data:   indented\nid: 7\n\n")
    }

    @Test func eventTypeCannotInjectLines() {
        #expect(frame(type: "evil\ndata: injected", data: "x") == "event: evil data: injected\ndata: x\nid: 7\n\n")
    }

    @Test func emptyOrDefaultTypeOmitsTheEventField() {
        // A client dispatches an event without `event:` as "message": the line would only cost bytes and parsing.
        #expect(frame(type: "", data: "x") == "data: x\nid: 7\n\n")
        #expect(frame(type: "message", data: "x") == "data: x\nid: 7\n\n")
        #expect(frame(type: "deploy", data: "x") == "event: deploy\ndata: x\nid: 7\n\n")
        #expect(frame(type: "Message", data: "x") == "event: Message\ndata: x\nid: 7\n\n", "types are case-sensitive")
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
