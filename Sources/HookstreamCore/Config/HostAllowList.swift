/// The names a cleartext listener answers to (`server.hosts`), against DNS rebinding.
///
/// A site's page can point its own name at `127.0.0.1` (a DNS answer with a short lifetime, changed after the page
/// loaded) or at a host of the visitor's network: its requests then reach this server from the visitor's browser as
/// the page's own origin, so no `Origin` test stops them, and it could read `/metrics`, open `/console` or post to
/// sources without `verify:`. What such a request cannot change is its `Host`: the attacker's name. So a request's
/// `Host` must be an IP address, `localhost` (or a name under `.localhost`, which browsers resolve to loopback
/// themselves), a name in `server.hosts`, or the host of one of `cors.origins`. Entries are exact names,
/// `*.example.com` (any name under it, not `example.com` itself), or `*` (any name: for a listener that only a
/// proxy checking names itself can reach). A request without a `Host`, or with an empty one, is not a browser's.
public struct HostAllowList: Sendable, Hashable {
    /// Exact names, lowercased, without a trailing dot.
    public private(set) var names: Set<String> = []
    /// `.example.com` for `*.example.com`.
    public private(set) var suffixes: Set<String> = []
    /// `*`: any name.
    public private(set) var allowsAnyName = false

    public init() {}

    /// Adds an entry as written in `server.hosts`.
    /// - Returns: `false` when `entry` is not a host name, `*.` and a host name, or `*`.
    public mutating func add(_ entry: String) -> Bool {
        if entry == "*" {
            allowsAnyName = true
            return true
        }
        let lowered = entry.lowercased()
        if lowered.hasPrefix("*.") {
            let name = lowered.dropFirst(2)
            guard HostAllowList.isHostName(name) else { return false }
            suffixes.insert("." + HostAllowList.withoutTrailingDot(name))
            return true
        }
        guard HostAllowList.isHostName(Substring(lowered)) else { return false }
        names.insert(String(HostAllowList.withoutTrailingDot(Substring(lowered))))
        return true
    }

    /// This list with the hosts of `origins` (`https://app.example:8443` adds `app.example`): a page of an origin
    /// allowed to call the API may be served by this server too.
    public func addingHosts(ofOrigins origins: some Sequence<String>) -> HostAllowList {
        var list = self
        for origin in origins {
            let scheme = origin.hasPrefix("https://") ? "https://" : "http://"
            guard origin.hasPrefix(scheme), let host = HostAllowList.hostPart(of: String(origin.dropFirst(scheme.count))) else { continue }
            _ = list.add(String(host))  // an IPv6 address is not a name to add: addresses pass anyway
        }
        return list
    }

    /// Whether a request whose `Host` header is `header` came under an allowed name.
    public func allows(hostHeader header: String) -> Bool {
        if HostAllowList.isIPv4WithPort(header) { return true }  // the usual request, decided in one pass
        if header.trimmingSpaces().isEmpty { return true }
        guard let host = HostAllowList.hostPart(of: header) else { return false }
        if host.first == "[" || HostAllowList.isIPv4(host) { return true }  // an address: DNS had no part in it
        guard HostAllowList.isHostName(host) else { return false }
        if allowsAnyName { return true }
        let name = String(HostAllowList.withoutTrailingDot(host)).lowercased()
        if name == "localhost" || name.hasSuffix(".localhost") || names.contains(name) { return true }
        return suffixes.contains { name.hasSuffix($0) }
    }

    /// The host of a `Host` header without its port (`events.example.com` for `events.example.com:8080`), for
    /// messages; `nil` when the header is malformed.
    public static func name(ofHostHeader header: String) -> String? {
        guard let host = hostPart(of: header), host.first == "[" || isHostName(host) else { return nil }
        return String(host)
    }

    /// The host of a `Host` header: without its port, brackets kept on an IPv6 address; `nil` when it is malformed.
    static func hostPart(of header: String) -> Substring? {
        // Spaces and tabs around the value are not part of it (NIO keeps those after it).
        let text = header.trimmingSpaces()
        let end: Substring.Index
        if text.first == "[" {
            // An IPv6 address: hex digits, colons, and perhaps an IPv4 tail; never a name.
            guard let close = text.firstIndex(of: "]"),
                text[text.index(after: text.startIndex)..<close].utf8.allSatisfy({ $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || $0.isHexDigit })
            else { return nil }
            end = text.index(after: close)
        } else {
            end = text.firstIndex(of: ":") ?? text.endIndex
        }
        let host = text[..<end]
        let port = text[end...]
        guard !host.isEmpty, port.isEmpty || (port.first == ":" && isPort(port.dropFirst())) else { return nil }
        return host
    }

    /// A port as a `Host` header may end with it: decimal digits up to 65535, or none (RFC 3986 allows `host:`).
    private static func isPort(_ text: Substring) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { isPort($0) } ?? isPort(text.utf8)
    }

    private static func isPort(_ bytes: some Collection<UInt8>) -> Bool {
        guard bytes.count <= 5 else { return false }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return false }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value <= 65535
    }

    /// Whether `header` is exactly an IPv4 address, perhaps with a port (`127.0.0.1:8080`): what most requests to a
    /// daemon on loopback carry, judged on its bytes. `false` says only that it is not of that form (the
    /// whole check then decides).
    static func isIPv4WithPort(_ header: String) -> Bool {
        // The colon found by byte, not by `Character` as `hostPart(of:)` finds it (with grapheme breaking); the
        // address and the port are then judged as the whole check judges them, over the bytes where they lie (the
        // string's views cost several times as much, on every request).
        header.utf8.withContiguousStorageIfAvailable { isIPv4WithPort($0) } ?? isIPv4WithPort(Array(header.utf8))
    }

    private static func isIPv4WithPort<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        let colon = bytes.firstIndex(of: UInt8(ascii: ":"))
        guard isIPv4(bytes[..<(colon ?? bytes.endIndex)]) else { return false }
        guard let colon else { return true }
        return isPort(bytes[bytes.index(after: colon)...])
    }

    /// Four decimal numbers up to 255, as browsers write an IPv4 address in `Host`.
    static func isIPv4(_ text: Substring) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { isIPv4($0) } ?? isIPv4(text.utf8)
    }

    private static func isIPv4(_ bytes: some Collection<UInt8>) -> Bool {
        var parts = 0
        var value = -1
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard value >= 0 else { return false }
                parts += 1
                value = -1
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                value = max(value, 0) * 10 + Int(byte - UInt8(ascii: "0"))
                guard value <= 255 else { return false }
            } else {
                return false
            }
        }
        return value >= 0 && parts == 3
    }

    /// Letters, digits, `-`, `_` and `.`, as host names are written in a URL (a name in another script arrives as
    /// `xn--` punycode).
    static func isHostName(_ text: Substring) -> Bool {
        let name = withoutTrailingDot(text)
        // 253 characters is as long as a name DNS can carry.
        guard !name.isEmpty, name.utf8.count <= 253, !name.hasPrefix("."), !name.contains("..") else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."): true
            default: false
            }
        }
    }

    static func withoutTrailingDot(_ text: Substring) -> Substring {
        text.last == "." ? text.dropLast() : text
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}

