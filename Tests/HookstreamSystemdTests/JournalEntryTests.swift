import Logging
import Testing

@testable import HookstreamSystemd

@Suite struct JournalEntryTests {
    @Test func plainAndBinaryFields() {
        var entry = JournalEntry()
        entry.append("MESSAGE", "one line")
        entry.append("DATA", "two\nlines")
        var expected = Array("MESSAGE=one line\nDATA\n".utf8)
        expected += [9, 0, 0, 0, 0, 0, 0, 0]  // the length, little-endian 64-bit
        expected += Array("two\nlines\n".utf8)
        #expect(entry.bytes == expected)
    }

    @Test func metadataKeysBecomeFieldNamesThatCannotPoseAsTrustedOnes() {
        #expect(JournalEntry.fieldName(forMetadataKey: "hookstream.topic") == "HOOKSTREAM_TOPIC")
        #expect(JournalEntry.fieldName(forMetadataKey: "hookstream.event_id") == "HOOKSTREAM_EVENT_ID")
        #expect(JournalEntry.fieldName(forMetadataKey: "error") == "HOOKSTREAM_ERROR")
        // Bad input: keys that would be journald's own trusted fields, or not field names at all.
        #expect(JournalEntry.fieldName(forMetadataKey: "_PID") == "HOOKSTREAM__PID")
        #expect(JournalEntry.fieldName(forMetadataKey: "MESSAGE") == "HOOKSTREAM_MESSAGE")
        #expect(JournalEntry.fieldName(forMetadataKey: "sl-service") == "HOOKSTREAM_SL_SERVICE")
        #expect(JournalEntry.fieldName(forMetadataKey: String(repeating: "x", count: 100)).count == 64)
    }

    @Test func anEntryCarriesLevelCodeLocationMessageIDAndListsAsRepeatedFields() {
        let bytes = JournalLogHandler.entry(
            level: .warning, message: "hello", metadata: ["hookstream.message_id": "abc", "hookstream.event_id": .array(["1", "2"])],
            identifier: "hookstream", file: "F.swift", function: "f()", line: 7)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("MESSAGE=hello\n"))
        #expect(text.contains("PRIORITY=4\n"))
        #expect(text.contains("SYSLOG_IDENTIFIER=hookstream\n"))
        #expect(text.contains("CODE_FILE=F.swift\nCODE_LINE=7\nCODE_FUNC=f()\n"))
        #expect(text.contains("MESSAGE_ID=abc\n"))
        #expect(text.contains("HOOKSTREAM_EVENT_ID=1\nHOOKSTREAM_EVENT_ID=2\n"))
    }
}
