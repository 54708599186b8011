extension TopicPattern {
    /// The pattern's literal segments before its first wildcard, joined by `/`, and whether that is the whole
    /// pattern (no wildcard: the pattern names one topic). Every topic the pattern matches is the prefix itself or
    /// starts with the prefix and a `/`: a store can read them as one range of names.
    package var literalPrefix: (text: String, isWhole: Bool) {
        var literals: [Substring] = []
        for segment in segments {
            guard case .literal(let literal) = segment else { return (literals.joined(separator: "/"), false) }
            literals.append(literal)
        }
        return (literals.joined(separator: "/"), true)
    }
}
