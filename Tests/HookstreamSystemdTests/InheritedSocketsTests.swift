import Testing

@testable import HookstreamSystemd

/// The environment's descriptors 3, 4 and 5 are the test runner's own: the tests read the environment without taking
/// them.
@Suite struct InheritedSocketsTests {
    @Test func socketsAreNamedInOrderFromDescriptorThree() {
        let sockets = InheritedSockets.fromEnvironment(
            ["LISTEN_FDS": "3", "LISTEN_PID": "42", "LISTEN_FDNAMES": "http:ingest:http"], processID: 42, unsetEnvironment: false, takeDescriptors: false)
        #expect(sockets.byName == ["http": [3, 5], "ingest": [4]])
        #expect(sockets.first(named: "http") == 3)
        #expect(sockets.unused(besides: ["http"]) == ["ingest"])
    }

    @Test func socketsMeantForAnotherProcessOrMalformedAreIgnored() {
        // Bad input: another process's sockets, a count that is not a number, no count at all.
        #expect(InheritedSockets.fromEnvironment(["LISTEN_FDS": "1", "LISTEN_PID": "7"], processID: 42, unsetEnvironment: false, takeDescriptors: false).byName.isEmpty)
        #expect(InheritedSockets.fromEnvironment(["LISTEN_FDS": "x", "LISTEN_PID": "42"], processID: 42, unsetEnvironment: false, takeDescriptors: false).byName.isEmpty)
        #expect(InheritedSockets.fromEnvironment(["LISTEN_PID": "42"], processID: 42, unsetEnvironment: false, takeDescriptors: false).byName.isEmpty)
        // Without names every socket is "unknown", as systemd names them.
        #expect(InheritedSockets.fromEnvironment(["LISTEN_FDS": "1", "LISTEN_PID": "42"], processID: 42, unsetEnvironment: false, takeDescriptors: false).byName == ["unknown": [3]])
    }
}
