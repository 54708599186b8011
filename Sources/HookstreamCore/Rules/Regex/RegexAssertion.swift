/// A zero-width test of the position between two scalars: an anchor or a word boundary.
///
/// Each is decided from the scalar before the position, the one after it, and the one after that (for `$`,
/// which also holds before a newline that ends the text), so the matcher needs a window of three scalars and
/// never looks further.
enum RegexAssertion: Sendable, Equatable {
    /// `^` and `\A`.
    case startOfText
    /// `^` under `(?m)`: the start, or after a newline that does not end the text (as PCRE).
    case startOfLine
    /// `\z`.
    case endOfText
    /// `$` and `\Z`: the end, or before a newline that ends the text (as PCRE and Perl).
    case endOfTextOrFinalNewline
    /// `$` under `(?m)`: the end, or before any newline.
    case endOfLine
    /// `\b`, with the ASCII word characters of `\w`.
    case wordBoundary
    /// `\B`.
    case notWordBoundary

    /// Whether the assertion holds between `previous` and `current` (`nil` at either end of the text);
    /// `following` is the scalar after `current`.
    @inline(__always)
    func holds(previous: Unicode.Scalar?, current: Unicode.Scalar?, following: Unicode.Scalar?) -> Bool {
        switch self {
        case .startOfText: previous == nil
        case .startOfLine: previous == nil || (previous == "\n" && current != nil)
        case .endOfText: current == nil
        case .endOfTextOrFinalNewline: current == nil || (current == "\n" && following == nil)
        case .endOfLine: current == nil || current == "\n"
        case .wordBoundary: ScalarSet.isWordCharacter(previous) != ScalarSet.isWordCharacter(current)
        case .notWordBoundary: ScalarSet.isWordCharacter(previous) == ScalarSet.isWordCharacter(current)
        }
    }
}
