/// Comparisons of secrets and signatures whose time does not depend on where the inputs differ.
package enum ConstantTime {
    /// Whether `a` and `b` are equal; looks at every byte of the longer one, whatever the contents.
    package static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count) | (a.count == b.count ? 0 : 1)
        var i = a.makeIterator()
        var j = b.makeIterator()
        for _ in 0..<max(a.count, b.count) {
            difference |= (i.next() ?? 0) ^ (j.next() ?? 0)
        }
        return difference == 0
    }
}
