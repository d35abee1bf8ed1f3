import CortexCore
import Foundation

/// Text to token ids and back.
public protocol Tokenizer: Sendable {
    var vocabularySize: Int { get }
    func encode(_ text: String) throws -> [Int]
    func decode(_ ids: [Int]) throws -> String
}

/// One token per character (Unicode extended grapheme cluster), the vocabulary being the
/// sorted set of characters of a corpus, as char-rnn and nanoGPT's character models.
///
/// ```swift
/// let tokenizer = CharacterTokenizer(corpus: text)
/// let ids = try tokenizer.encode("To be")
/// ```
public struct CharacterTokenizer: Tokenizer, Equatable {
    public let characters: [Character]
    private let ids: [Character: Int]

    public init(characters: [Character]) {
        self.characters = characters
        self.ids = Dictionary(characters.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The distinct characters of `corpus`, sorted by their Unicode scalars.
    public init(corpus: String) {
        self.init(characters: Set(corpus).sorted { String($0).unicodeScalars.lexicographicallyPrecedes(String($1).unicodeScalars) })
    }

    public var vocabularySize: Int { characters.count }

    public func encode(_ text: String) throws -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(text.count)
        for (offset, character) in text.enumerated() {
            guard let id = ids[character] else {
                throw CortexError.invalidArgument(operation: "CharacterTokenizer.encode",
                                                  reason: "character \(character.debugDescription) at offset \(offset) is not in the vocabulary")
            }
            result.append(id)
        }
        return result
    }

    public func decode(_ ids: [Int]) throws -> String {
        var text = ""
        for id in ids {
            guard characters.indices.contains(id) else {
                throw CortexError.indexOutOfRange(operation: "CharacterTokenizer.decode", index: id, bound: characters.count)
            }
            text.append(characters[id])
        }
        return text
    }

    /// Writes the vocabulary as a JSON array of strings, atomically.
    public func save(to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: characters.map(String.init), options: [])
        try AtomicFile.write(to: path) { handle in try data.withUnsafeBytes { try handle.write($0) } }
    }

    public static func load(from path: String) throws -> CharacterTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        guard let strings = (try? JSONSerialization.jsonObject(with: data)) as? [String], strings.allSatisfy({ $0.count == 1 }) else {
            throw CortexError.invalidFile(path: path, reason: "not a JSON array of one-character strings")
        }
        return CharacterTokenizer(characters: strings.map { $0.first! })
    }

    public static func == (lhs: CharacterTokenizer, rhs: CharacterTokenizer) -> Bool { lhs.characters == rhs.characters }
}

/// Refuses token ids far past a vocabulary's size. Vocabularies number their tokens from 0 to
/// about their size; an id like 54,000,000,000 (a corrupt or hostile file) would otherwise size
/// the id-to-token table.
func checkTokenIdentifiers(_ tables: [String: Int]..., source: String) throws {
    let entries = tables.reduce(0) { $0 + $1.count }
    let limit = 4 * entries + 1024
    for table in tables {
        if let (token, id) = table.first(where: { $0.value >= limit }) {
            throw CortexError.invalidFile(path: source, reason: "token \(token.debugDescription) has id \(id), far past the \(entries) tokens of the vocabulary (ids run from 0 to about its size)")
        }
    }
}
