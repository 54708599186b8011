import Testing

@testable import HookstreamCore

@Suite struct JSONParserTests {
    @Test func roundTripKeepsOrderAndNumberText() throws {
        let text = #"{"z":1,"a":[true,false,null,1.50,-2e10],"m":{"k":"v"},"s":"x\"y\\z\n\u00e9\ud83d\ude00"}"#
        let value = try JSONParser.parse(text)
        #expect(value.jsonText == #"{"z":1,"a":[true,false,null,1.50,-2e10],"m":{"k":"v"},"s":"x\"y\\z\né😀"}"#)
    }

    @Test func pathLookup() throws {
        let value = try JSONParser.parse(#"{"a":{"b":[{"c":"deep"}]}}"#)
        #expect(value.value(atPath: "a.b.0.c".split(separator: ".")) == .string("deep"))
        #expect(value.value(atPath: "a.b.1.c".split(separator: ".")) == nil)
        #expect(value.value(atPath: "a.x".split(separator: ".")) == nil)
    }

    /// A document is read where it lies when its bytes are contiguous (an array, a string, a request body) and
    /// copied first when they are not; both give the same value, and the same error at the same offset.
    @Test func contiguousAndOtherCollectionsParseAlike() throws {
        let text = #"{"seq":1,"ts":1.5e3,"run":"r\u00e9","pad":"","list":[{"a":null},{"b":[true]}],"k1":1,"k2":2,"k3":3,"k4":4}"#
        let expected = try JSONParser.parse(text)
        #expect(expected.value(atPath: ["list", "1", "b", "0"]) == .bool(true))
        #expect(try JSONParser.parse(Array(text.utf8)) == expected)
        #expect(try JSONParser.parse(text.utf8) == expected)
        #expect(try JSONParser.parse(text.utf8.lazy.map { $0 }) == expected, "a collection without contiguous storage")
        #expect(try JSONParser.parse(Array(text.utf8)[...]) == expected)
        // Bad input: a document cut short, read both ways.
        let cut = Array(text.utf8.dropLast(3))
        let contiguous = #expect(throws: JSONParseError.self) { try JSONParser.parse(cut) }
        let copied = #expect(throws: JSONParseError.self) { try JSONParser.parse(cut.lazy.map { $0 }) }
        #expect(contiguous?.offset == copied?.offset && contiguous?.offset != nil)
        #expect(contiguous?.message == copied?.message)
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "01", "\"unterminated", "{\"a\":1} trailing", "nul", "\"\u{01}\"", "{'a':1}"])
    func malformedDocumentsAreRejected(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func stringsWithAndWithoutEscapes() throws {
        let value = try JSONParser.parse(#"["plain", "ü话", "a\"b", "tab\tend", "\u00e9\ud83d\ude00", ""]"#)
        #expect(value == .array([.string("plain"), .string("ü话"), .string("a\"b"), .string("tab\tend"), .string("é😀"), .string("")]))
        // Invalid UTF-8 is refused both in a plain run and after an escape.
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0x5C, 0x6E, 0xFF, 0x22]) }
    }

    @Test func controlCharactersAreEscapedOnOutput() throws {
        #expect(JSONValue.string("a\u{1}b\tc").jsonText == #""a\u0001b\tc""#)
        // Every control character, the two escaped ASCII characters and multi-byte text beside them, in keys too.
        let controls = String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) }))
        let expected = #"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#
            + #"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"#
        #expect(JSONValue.string(controls).jsonText == "\"\(expected)\"")
        let mixed = "é\"😀\\话\u{7f}"
        #expect(JSONValue.object([.init(mixed, .string(mixed))]).jsonText == "{\"é\\\"😀\\\\话\u{7f}\":\"é\\\"😀\\\\话\u{7f}\"}")
        #expect(try JSONParser.parse(JSONValue.string(controls + mixed).jsonText) == .string(controls + mixed))
    }

    /// Bad input: a key twice in one object, in a small object and in one past the size where keys are kept in a
    /// set. Rules would read the first value and a browser the last. The same key in two objects is fine.
    @Test func aKeyTwiceInOneObjectIsRefused() throws {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#"{"channel":"x","channel":"y"}"#) }
        let many = (0..<20).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        do {
            _ = try JSONParser.parse("{\(many),\"k3\":0}")
            Issue.record("a repeated key in a large object was accepted")
        } catch {
            #expect(error.message.contains(#""k3" appears twice"#), "\(error)")
        }
        #expect(try JSONParser.parse(#"{"a":{"k":1},"b":{"k":2},"k":3}"#).jsonText == #"{"a":{"k":1},"b":{"k":2},"k":3}"#)
    }

    /// Bad input: a body starting with an escape byte. The error names the byte by value, so that no control byte
    /// reaches a log line or a terminal.
    @Test func anUnexpectedByteIsShownByItsValue() {
        do {
            _ = try JSONParser.parse([0x1B, 0x5B, 0x32, 0x4A])
            Issue.record("accepted")
        } catch {
            #expect(error.message == "unexpected byte 0x1b")
        }
    }
}
