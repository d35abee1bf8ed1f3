/// GPT-2's pre-tokenizer: the text split as OpenAI's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` splits it,
/// written as a scanner over Unicode scalars (no regular-expression engine, one pass).
///
/// ```swift
/// GPT2PreTokenizer.split("I'm here  now")   // ["I", "'m", " here", " ", " now"]
/// ```
public enum GPT2PreTokenizer {
    enum Kind: UInt8 { case letter, number, space, other }

    /// The pieces of `text`, in order; concatenated they give `text` back.
    public static func split(_ text: String) -> [Substring.UnicodeScalarView] {
        var pieces: [Substring.UnicodeScalarView] = []
        forEachPiece(text) { pieces.append($0) }
        return pieces
    }

    /// Calls `body` with each piece of `text`.
    public static func forEachPiece(_ text: String, _ body: (Substring.UnicodeScalarView) -> Void) {
        let scalars = text.unicodeScalars
        var index = scalars.startIndex
        let end = scalars.endIndex
        func kind(_ scalar: Unicode.Scalar) -> Kind { classify(scalar) }
        /// The index after the run of scalars of `wanted` kind starting at `start`.
        func run(from start: String.UnicodeScalarView.Index, _ wanted: Kind) -> String.UnicodeScalarView.Index {
            var position = start
            while position < end && kind(scalars[position]) == wanted { position = scalars.index(after: position) }
            return position
        }
        while index < end {
            let scalar = scalars[index]
            let next = scalars.index(after: index)
            // 's 't 're 've 'm 'll 'd
            if scalar == "'" && next < end {
                let first = scalars[next]
                let afterFirst = scalars.index(after: next)
                if afterFirst < end {
                    let second = scalars[afterFirst]
                    if (first == "r" && second == "e") || (first == "v" && second == "e") || (first == "l" && second == "l") {
                        let stop = scalars.index(after: afterFirst)
                        body(scalars[index..<stop])
                        index = stop
                        continue
                    }
                }
                if first == "s" || first == "t" || first == "m" || first == "d" {
                    body(scalars[index..<afterFirst])
                    index = afterFirst
                    continue
                }
            }
            // An optional single space, then a run of letters, numbers or other symbols.
            var start = index, head = kind(scalar)
            if scalar == " " && next < end {
                let following = kind(scalars[next])
                if following != .space {
                    start = next
                    head = following
                }
            }
            if head != .space {
                let stop = run(from: start, head)
                body(scalars[index..<stop])
                index = stop
                continue
            }
            // Whitespace: the run, less its last scalar when a non-space follows it (that
            // scalar then begins the next piece), unless the run is that one scalar.
            let stop = run(from: index, .space)
            if stop < end && scalars.index(after: index) < stop {
                let shortened = scalars.index(before: stop)
                body(scalars[index..<shortened])
                index = shortened
            } else {
                body(scalars[index..<stop])
                index = stop
            }
        }
    }

    /// \p{L}, \p{N}, \s (Unicode White_Space) or anything else; ASCII from a table.
    @inline(__always) static func classify(_ scalar: Unicode.Scalar) -> Kind {
        let value = scalar.value
        if value < 128 { return asciiKinds[Int(value)] }
        if scalar.properties.isWhitespace { return .space }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    static let asciiKinds: [Kind] = (0..<128).map { value -> Kind in
        let scalar = Unicode.Scalar(UInt8(value))
        if scalar.properties.isWhitespace { return .space }
        if (65...90).contains(value) || (97...122).contains(value) { return .letter }
        if (48...57).contains(value) { return .number }
        return .other
    }
}
