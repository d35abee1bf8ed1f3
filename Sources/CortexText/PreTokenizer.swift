/// A pre-tokenizer defined by a regular expression (as tokenizer.json spells it), run as a
/// hand-written scanner over Unicode scalars.
public protocol PatternPreTokenizer {
    /// The pattern as tokenizer.json files spell it.
    static var pattern: String { get }
    /// Calls `body` with each piece of `text`, in order; concatenated they give `text` back.
    static func forEachPiece(_ text: String, _ body: (Substring.UnicodeScalarView) -> Void)
}

extension PatternPreTokenizer {
    /// The pieces of `text`, in order.
    public static func split(_ text: String) -> [Substring.UnicodeScalarView] {
        var pieces: [Substring.UnicodeScalarView] = []
        forEachPiece(text) { pieces.append($0) }
        return pieces
    }
}

/// GPT-2's pre-tokenizer: the text split as OpenAI's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` splits it,
/// written as a scanner over Unicode scalars (no regular-expression engine, one pass).
///
/// ```swift
/// GPT2PreTokenizer.split("I'm here  now")   // ["I", "'m", " here", " ", " now"]
/// ```
public enum GPT2PreTokenizer: PatternPreTokenizer {
    enum Kind: UInt8 { case letter, number, space, other }

    public static let pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

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

/// Llama 3's pre-tokenizer (also Llama 3.1/3.2 and many byte-level BPE models since): the
/// pattern `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
/// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, as a one-pass scanner. Unlike GPT-2's,
/// a letter run takes one leading symbol ("(word"), numbers go in threes, and line breaks
/// stay with the whitespace before them.
public enum Llama3PreTokenizer: PatternPreTokenizer {
    public static let pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    public static func forEachPiece(_ text: String, _ body: (Substring.UnicodeScalarView) -> Void) {
        let scalars = text.unicodeScalars
        let end = scalars.endIndex
        var index = scalars.startIndex
        func kind(_ position: String.UnicodeScalarView.Index) -> GPT2PreTokenizer.Kind { GPT2PreTokenizer.classify(scalars[position]) }
        func isLineBreak(_ position: String.UnicodeScalarView.Index) -> Bool { scalars[position] == "\n" || scalars[position] == "\r" }
        func after(_ position: String.UnicodeScalarView.Index) -> String.UnicodeScalarView.Index { scalars.index(after: position) }
        func run(from start: String.UnicodeScalarView.Index, while test: (String.UnicodeScalarView.Index) -> Bool) -> String.UnicodeScalarView.Index {
            var position = start
            while position < end && test(position) { position = after(position) }
            return position
        }
        func emit(_ stop: String.UnicodeScalarView.Index) {
            body(scalars[index..<stop])
            index = stop
        }
        while index < end {
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if scalars[index] == "'" {
                let first = after(index)
                if first < end {
                    let a = Character(scalars[first]).lowercased()
                    let second = after(first)
                    if second < end, ["re", "ve", "ll"].contains(a + Character(scalars[second]).lowercased()) { emit(after(second)); continue }
                    if ["s", "t", "m", "d"].contains(a) { emit(second); continue }
                }
            }
            let head = kind(index)
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if head == .letter { emit(run(from: index) { kind($0) == .letter }); continue }
            if head != .number && !isLineBreak(index) {
                let next = after(index)
                if next < end && kind(next) == .letter { emit(run(from: next) { kind($0) == .letter }); continue }
            }
            // \p{N}{1,3}
            if head == .number {
                var stop = index, taken = 0
                while stop < end && taken < 3 && kind(stop) == .number { stop = after(stop); taken += 1 }
                emit(stop)
                continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            var symbols = index
            if scalars[index] == " " && after(index) < end && kind(after(index)) == .other { symbols = after(index) }
            if kind(symbols) == .other {
                let stop = run(from: run(from: symbols) { kind($0) == .other }, while: isLineBreak)
                emit(stop)
                continue
            }
            // Whitespace: \s*[\r\n]+ (through the run's last line break), else \s+(?!\S), else \s+.
            let whitespaceEnd = run(from: index) { kind($0) == .space }
            var lastBreak: String.UnicodeScalarView.Index?
            var position = index
            while position < whitespaceEnd {
                if isLineBreak(position) { lastBreak = position }
                position = after(position)
            }
            if let lastBreak { emit(after(lastBreak)); continue }
            if whitespaceEnd < end && after(index) < whitespaceEnd {
                emit(scalars.index(before: whitespaceEnd))
            } else {
                emit(whitespaceEnd)
            }
        }
    }
}

/// How a byte-level BPE tokenizer splits text before merging, as Hugging Face's pre-tokenizer
/// sequences do: runs of punctuation first (Punctuation, contiguous), then digits (Digits),
/// then the pattern (GPT-2's, which ByteLevel applies, or Llama 3's), and after the byte-level
/// mapping, runs of numeric characters and ASCII digits in threes (Falcon's Digits and
/// `[0-9][0-9][0-9]` split, which see bytes such as 0xBD as "½").
public struct PreTokenization: Sendable, Equatable {
    /// GPT-2's and Llama 3's patterns run as hand-written scanners; any other as a sequence of
    /// regular expressions, each splitting every piece the one before made (llama.cpp's
    /// `regex_exprs`, a tokenizer.json's Split sequence).
    public enum Pattern: Sendable, Equatable {
        case gpt2, llama3
        case regexes([RegexSplitter])
    }
    public var pattern: Pattern
    /// Every digit its own piece first (Hugging Face's Digits(individual_digits: true)).
    public var isolateDigits: Bool
    /// Every run of digits its own piece first (Digits(individual_digits: false), or a split
    /// on `\p{N}+` as DeepSeek's tokenizers have).
    public var isolateDigitRuns: Bool
    /// Every run of punctuation (ASCII punctuation or Unicode P*) its own piece first
    /// (Punctuation(behavior: contiguous)).
    public var isolatePunctuationRuns: Bool
    /// After the byte-level mapping, runs of numeric characters split off (Digits after ByteLevel).
    public var isolateMappedDigitRuns: Bool
    /// After the byte-level mapping, every three ASCII digits in a row their own piece
    /// (Split `[0-9][0-9][0-9]`, isolated).
    public var isolateDigitTriples: Bool

    public init(pattern: Pattern = .gpt2, isolateDigits: Bool = false, isolateDigitRuns: Bool = false, isolatePunctuationRuns: Bool = false,
                isolateMappedDigitRuns: Bool = false, isolateDigitTriples: Bool = false) {
        self.pattern = pattern
        self.isolateDigits = isolateDigits
        self.isolateDigitRuns = isolateDigitRuns
        self.isolatePunctuationRuns = isolatePunctuationRuns
        self.isolateMappedDigitRuns = isolateMappedDigitRuns
        self.isolateDigitTriples = isolateDigitTriples
    }

    public static let gpt2 = PreTokenization()
    public static let llama3 = PreTokenization(pattern: .llama3)
    /// Falcon's: punctuation runs, GPT-2's pattern, then numeric runs and digit triples.
    public static let falcon = PreTokenization(isolatePunctuationRuns: true, isolateMappedDigitRuns: true, isolateDigitTriples: true)

    /// Whether any split happens on the bytes after the mapping.
    var splitsBytes: Bool { isolateMappedDigitRuns || isolateDigitTriples }

    /// Calls `body` with each piece of `text` (before the byte-level splits, which
    /// ``forEachBytePiece(_:_:)`` makes).
    public func forEachPiece(_ text: String, _ body: (Substring.UnicodeScalarView) -> Void) {
        func split(_ part: Substring.UnicodeScalarView) {
            switch pattern {
            case .gpt2: GPT2PreTokenizer.forEachPiece(String(part), body)
            case .llama3: Llama3PreTokenizer.forEachPiece(String(part), body)
            case let .regexes(splitters):
                func apply(_ index: Int, _ piece: Substring.UnicodeScalarView) {
                    guard index < splitters.count else { return body(piece) }
                    splitters[index].forEachPiece(piece) { apply(index + 1, $0) }
                }
                apply(0, part)
            }
        }
        func digits(_ part: Substring.UnicodeScalarView) {
            guard isolateDigits || isolateDigitRuns else { return split(part) }
            PreTokenization.forEachRun(part, where: { GPT2PreTokenizer.classify($0) == .number }, individually: isolateDigits, split)
        }
        guard isolatePunctuationRuns else { return digits(Substring(text).unicodeScalars) }
        PreTokenization.forEachRun(Substring(text).unicodeScalars, where: PreTokenization.isPunctuation, individually: false, digits)
    }

    /// Cuts `text` into the runs of scalars that pass `test` (each scalar alone when
    /// `individually`) and the runs between them.
    static func forEachRun(_ text: Substring.UnicodeScalarView, where test: (Unicode.Scalar) -> Bool, individually: Bool,
                           _ body: (Substring.UnicodeScalarView) -> Void) {
        var start = text.startIndex, index = text.startIndex
        var inRun = false
        while index < text.endIndex {
            let passes = test(text[index])
            if index > start && (passes != inRun || (passes && individually)) {
                body(text[start..<index])
                start = index
            }
            inRun = passes
            index = text.index(after: index)
        }
        if start < text.endIndex { body(text[start...]) }
    }

    /// Hugging Face's punctuation: ASCII punctuation, or a Unicode punctuation category.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return (33...47).contains(scalar.value) || (58...64).contains(scalar.value) || (91...96).contains(scalar.value) || (123...126).contains(scalar.value) }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// Calls `body` with the byte ranges of one piece's UTF-8 `bytes` after the byte-level
    /// splits (the whole piece when there are none).
    func forEachBytePiece(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        guard splitsBytes else { return body(0..<bytes.count) }
        func triples(_ range: Range<Int>) {
            guard isolateDigitTriples else { return body(range) }
            var start = range.lowerBound, index = range.lowerBound
            while index + 3 <= range.upperBound {
                if PreTokenization.isASCIIDigit(bytes[index]) && PreTokenization.isASCIIDigit(bytes[index + 1]) && PreTokenization.isASCIIDigit(bytes[index + 2]) {
                    if start < index { body(start..<index) }
                    body(index..<(index + 3))
                    index += 3
                    start = index
                } else {
                    index += 1
                }
            }
            if start < range.upperBound { body(start..<range.upperBound) }
        }
        guard isolateMappedDigitRuns else { return triples(0..<bytes.count) }
        var start = 0
        for index in 0..<bytes.count where index > 0 && PreTokenization.mappedNumeric[Int(bytes[index])] != PreTokenization.mappedNumeric[Int(bytes[index - 1])] {
            triples(start..<index)
            start = index
        }
        if start < bytes.count { triples(start..<bytes.count) }
    }

    @inline(__always) static func isASCIIDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// Bytes whose byte-level character is numeric: the digits, and 0xB2 0xB3 0xB9 0xBC 0xBD
    /// 0xBE ("²³¹¼½¾").
    static let mappedNumeric: [Bool] = ByteLevelBPETokenizer.byteToScalar.map { GPT2PreTokenizer.classify($0) == .number }

    /// The pieces of `text` (before the byte-level splits).
    public func split(_ text: String) -> [String] {
        var pieces: [String] = []
        forEachPiece(text) { pieces.append(String($0)) }
        return pieces
    }
}
