#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The wall clock events are stamped with, in milliseconds since the Unix epoch; stores and retention take it
/// as a parameter so that tests can pass their own.
public enum WallClock {
    public static func milliseconds() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000)
    }
}
