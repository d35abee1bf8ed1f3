import CortexCore
import Foundation

/// A pre-tokenizer split by a regular expression as tokenizer.json writes it (Hugging Face's
/// `Split` with `behavior: "isolated"`, and llama.cpp's `regex_exprs`), run by ICU through
/// Foundation: each match is a piece, and so is the text between matches. Hugging Face runs
/// these patterns with Oniguruma, whose `\s` is Unicode's White_Space (with U+000B and U+0085,
/// which ICU's leaves out), so `\s` and `\S` are rewritten to that set before ICU compiles them.
/// A match of no length still cuts the text there (`(?=(\d{3})+(?!\d))` splits 1234567 as
/// 1, 234, 567).
///
/// ```swift
/// let splitter = try RegexSplitter(#"\p{N}{1,3}| ?\p{L}+|\s+"#)
/// splitter.split("abc 12345")   // ["abc", " ", "123", "45"] ... as Hugging Face splits it
/// ```
public final class RegexSplitter: Sendable, Equatable, CustomStringConvertible {
    /// The pattern as written (before the `\s` rewrite).
    public let pattern: String
    private let expression: NSRegularExpression

    public init(_ pattern: String) throws {
        self.pattern = pattern
        do {
            expression = try NSRegularExpression(pattern: RegexSplitter.icuPattern(pattern), options: [])
        } catch {
            throw CortexError.invalidArgument(operation: "RegexSplitter", reason: "pre-tokenizer pattern \(pattern.debugDescription) does not compile (\(error))")
        }
    }

    public static func == (left: RegexSplitter, right: RegexSplitter) -> Bool { left.pattern == right.pattern }
    public var description: String { pattern.debugDescription }

    /// Calls `body` with each piece of `text`: matches and the text between them, in order
    /// (never an empty piece).
    public func forEachPiece(_ text: Substring.UnicodeScalarView, _ body: (Substring.UnicodeScalarView) -> Void) {
        let string = String(text)
        let utf16 = string.utf16
        var cuts: [Int] = []
        expression.enumerateMatches(in: string, options: [], range: NSRange(location: 0, length: utf16.count)) { match, _, _ in
            guard let range = match?.range else { return }
            cuts.append(range.location)
            cuts.append(range.location + range.length)
        }
        cuts.append(utf16.count)
        // Offsets are UTF-16 code units at scalar boundaries; walk the scalars once to map them.
        var offset = 0, position = text.startIndex, start = text.startIndex
        for cut in cuts {
            while offset < cut && position < text.endIndex {
                offset += text[position].utf16.count
                position = text.index(after: position)
            }
            if start < position {
                body(text[start..<position])
                start = position
            }
        }
    }

    /// The pieces of `text`.
    public func split(_ text: String) -> [String] {
        var pieces: [String] = []
        forEachPiece(Substring(text).unicodeScalars) { pieces.append(String($0)) }
        return pieces
    }

    /// Oniguruma's `\s` (White_Space) for ICU: inside a set its members, outside a set the set.
    static let whiteSpace = #"\t\n\x{0B}\f\r\x{85}\p{Z}"#

    /// `pattern` with `\s` and `\S` written out as Oniguruma reads them.
    static func icuPattern(_ pattern: String) -> String {
        var result = "", depth = 0
        var characters = pattern.makeIterator()
        while let character = characters.next() {
            if character == "\\", let escaped = characters.next() {
                switch (escaped, depth > 0) {
                case ("s", true): result += whiteSpace
                case ("s", false): result += "[" + whiteSpace + "]"
                case ("S", false): result += "[^" + whiteSpace + "]"
                default: result += "\\" + String(escaped)
                }
                continue
            }
            if character == "[" { depth += 1 } else if character == "]" && depth > 0 { depth -= 1 }
            result.append(character)
        }
        return result
    }
}
