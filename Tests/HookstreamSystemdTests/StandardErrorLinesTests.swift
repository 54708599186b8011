import Testing

@testable import HookstreamSystemd

@Suite struct StandardErrorLinesTests {
    private func escaped(_ text: String) -> String { String(decoding: StandardErrorLines.escaped(text), as: UTF8.self) }

    /// Bad input: control characters inside a log line (from a sender's payload); each is written as an escape, and
    /// the line's own final newline stays.
    @Test func controlCharactersInsideALineAreEscaped() {
        #expect(escaped("plain line é\n") == "plain line é\n")
        #expect(escaped("a\nb\r\tc\u{1B}[31m\u{7F}\u{0}\n") == #"a\nb\r\tc\u{1B}[31m\u{7F}\u{0}"# + "\n")
        #expect(escaped("no final newline\n\n") == #"no final newline\n"# + "\n")
        #expect(escaped("") == "")
        #expect(escaped(#"a backslash \n stays"#) == #"a backslash \n stays"#)
    }
}
