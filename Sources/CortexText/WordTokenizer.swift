import CortexCore
import Foundation

/// Word-level tokens as in word language-model corpora (Penn Treebank style): lower-cased runs
/// of letters, digits and apostrophes, each other symbol on its own, `<eos>` at each line end;
/// the vocabulary is `<unk>`, `<eos>` and the most frequent words of a corpus (ties in
/// alphabetical order), rarer words becoming `<unk>`.
///
/// ```swift
/// let words = WordTokenizer(corpus: text, vocabularySize: 10_000)
/// let ids = try words.encode("To be, or not to be")
/// ```
public struct WordTokenizer: Tokenizer {
    public static let unknown = "<unk>", endOfLine = "<eos>"
    public let words: [String]
    private let ids: [String: Int]

    public init(words: [String]) {
        self.words = words
        ids = Dictionary(words.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public init(corpus: String, vocabularySize: Int) {
        var counts: [String: Int] = [:]
        for word in WordTokenizer.split(corpus) { counts[word, default: 0] += 1 }
        counts[WordTokenizer.unknown] = nil
        counts[WordTokenizer.endOfLine] = nil
        let frequent = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(max(vocabularySize - 2, 0)).map(\.key)
        self.init(words: [WordTokenizer.unknown, WordTokenizer.endOfLine] + frequent)
    }

    public var vocabularySize: Int { words.count }

    /// The word strings of `text`, `<eos>` at line ends.
    public static func split(_ text: String) -> [String] {
        var result: [String] = []
        for line in text.lowercased().split(separator: "\n", omittingEmptySubsequences: false) {
            var current = ""
            for character in line {
                if character.isLetter || character.isNumber || character == "'" {
                    current.append(character)
                    continue
                }
                if !current.isEmpty { result.append(current); current = "" }
                if !character.isWhitespace { result.append(String(character)) }
            }
            if !current.isEmpty { result.append(current) }
            result.append(endOfLine)
        }
        result.removeLast()  // the last line has no newline after it
        return result
    }

    public func encode(_ text: String) throws -> [Int] {
        WordTokenizer.split(text).map { ids[$0] ?? 0 }
    }

    public func decode(_ ids: [Int]) throws -> String {
        var text = ""
        for id in ids {
            guard words.indices.contains(id) else { throw CortexError.indexOutOfRange(operation: "WordTokenizer.decode", index: id, bound: words.count) }
            let word = words[id]
            if word == WordTokenizer.endOfLine { text += "\n"; continue }
            if !text.isEmpty && !text.hasSuffix("\n") { text += " " }
            text += word
        }
        return text
    }
}
