import HookstreamCore
import Logging
import Testing

@testable import HookstreamServer

/// `--log-format json`'s fields: what a log shipper reads without parsing a field's text again.
@Suite struct JSONLogHandlerTests {
    @Test func listsAndDictionariesAreJSONNotTheirText() {
        // A publish's line lists its ids and topics.
        #expect(JSONLogHandler.json(.array(["1", "2"])).jsonText == #"["1","2"]"#)
        #expect(JSONLogHandler.json(["b": "2", "a": .array(["x"])]).jsonText == #"{"a":["x"],"b":"2"}"#)
        #expect(JSONLogHandler.json("text with \"quotes\"").jsonText == #""text with \"quotes\"""#)
        #expect(JSONLogHandler.json(.stringConvertible(42)).jsonText == #""42""#)
    }
}
