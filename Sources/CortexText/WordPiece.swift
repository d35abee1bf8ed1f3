import CortexCore
import Foundation

/// BERT's WordPiece tokenizer, as Hugging Face's `BertTokenizerFast` runs it: text is cleaned
/// (control characters dropped, whitespace unified), CJK ideographs are split apart, accents
/// stripped and letters lower-cased (uncased models), split on whitespace and punctuation, and
/// each word becomes the longest vocabulary pieces from the left (`##` marks a continuation),
/// or `[UNK]` when it cannot. Sequences are wrapped in `[CLS] ... [SEP]` and truncated.
///
/// ```swift
/// let tokenizer = try WordPieceTokenizer.load(directory: "all-MiniLM-L6-v2")
/// try tokenizer.encode("unaffable")          // [101, 14477, 20961, 3468, 102]
/// let batch = try tokenizer.encodeBatch(["a", "longer sentence"], maxLength: 256)   // padded ids + mask
/// ```
public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
    public let vocabulary: [String: Int]
    public let lowercase: Bool
    public let stripAccents: Bool
    public let splitChineseCharacters: Bool
    public let unknownToken: String, classToken: String, separatorToken: String, paddingToken: String
    public let continuationPrefix: String
    public let maximumCharactersPerWord: Int
    private let tokens: [String]
    /// Word-initial and continuation pieces by their UTF-8 bytes (Swift's String equality is
    /// canonical equivalence, which would merge distinct tokens such as "é" and "e\u{301}").
    private let wordStarts: [[UInt8]: Int], continuations: [[UInt8]: Int]

    public init(vocabulary: [String: Int], lowercase: Bool = true, stripAccents: Bool? = nil, splitChineseCharacters: Bool = true,
                unknownToken: String = "[UNK]", classToken: String = "[CLS]", separatorToken: String = "[SEP]", paddingToken: String = "[PAD]",
                continuationPrefix: String = "##", maximumCharactersPerWord: Int = 100, source: String = "tokenizer") throws {
        for token in [unknownToken, classToken, separatorToken, paddingToken] where vocabulary[token] == nil {
            throw CortexError.invalidFile(path: source, reason: "the vocabulary has no \(token) token")
        }
        self.vocabulary = vocabulary
        self.lowercase = lowercase
        // Hugging Face strips accents whenever it lower-cases, unless told otherwise.
        self.stripAccents = stripAccents ?? lowercase
        self.splitChineseCharacters = splitChineseCharacters
        self.unknownToken = unknownToken
        self.classToken = classToken
        self.separatorToken = separatorToken
        self.paddingToken = paddingToken
        self.continuationPrefix = continuationPrefix
        self.maximumCharactersPerWord = maximumCharactersPerWord
        try checkTokenIdentifiers(vocabulary, source: source)
        var tokens = [String](repeating: "", count: (vocabulary.values.max() ?? -1) + 1)
        var wordStarts: [[UInt8]: Int] = [:], continuations: [[UInt8]: Int] = [:]
        for (token, id) in vocabulary where id >= 0 {
            tokens[id] = token
            let bytes = Array(token.utf8), prefix = Array(continuationPrefix.utf8)
            if !prefix.isEmpty && bytes.starts(with: prefix) { continuations[Array(bytes.dropFirst(prefix.count))] = id }
            wordStarts[bytes] = id
        }
        self.tokens = tokens
        self.wordStarts = wordStarts
        self.continuations = continuations
    }

    public var vocabularySize: Int { tokens.count }
    public var paddingId: Int { vocabulary[paddingToken]! }

    /// The WordPiece vocabulary of a GGUF file (`tokenizer.ggml.model` "bert"), as llama.cpp's
    /// converter writes it: bracketed special tokens as they are, word-initial pieces behind
    /// "▁", continuations without their "##". Lower-cased, as llama.cpp's BERT tokenizer is.
    public static func load(gguf file: GGUF.File) throws -> WordPieceTokenizer {
        let model = try file.string("tokenizer.ggml.model")
        guard model == "bert" else {
            throw CortexError.invalidFile(path: file.path, reason: "tokenizer model \"\(model)\" is not WordPiece (\"bert\")")
        }
        var vocabulary: [String: Int] = [:]
        for (id, token) in try file.strings("tokenizer.ggml.tokens").enumerated() {
            let piece: String
            if token.hasPrefix("[") && token.hasSuffix("]") { piece = token }
            else if token.hasPrefix("▁") { piece = String(token.dropFirst()) }
            else { piece = "##" + token }
            if vocabulary[piece] == nil { vocabulary[piece] = id }
        }
        return try WordPieceTokenizer(vocabulary: vocabulary, lowercase: true, source: file.path)
    }

    /// Loads `tokenizer.json` where the directory has one (its normaliser settings and
    /// vocabulary), else `vocab.txt` with `tokenizer_config.json`'s `do_lower_case`.
    public static func load(directory: String) throws -> WordPieceTokenizer {
        let json = (directory as NSString).appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json) { return try load(tokenizerJSON: json) }
        let vocabularyPath = (directory as NSString).appendingPathComponent("vocab.txt")
        guard let text = try? String(contentsOfFile: vocabularyPath, encoding: .utf8) else {
            throw CortexError.io(path: directory, reason: "holds neither tokenizer.json nor a readable vocab.txt")
        }
        var vocabulary: [String: Int] = [:]
        for (id, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            if !token.isEmpty && vocabulary[token] == nil { vocabulary[token] = id }
        }
        var lowercase = true
        var stripAccents: Bool?
        if let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent("tokenizer_config.json")),
           let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            lowercase = config["do_lower_case"] as? Bool ?? true
            stripAccents = config["strip_accents"] as? Bool
        }
        return try WordPieceTokenizer(vocabulary: vocabulary, lowercase: lowercase, stripAccents: stripAccents, source: vocabularyPath)
    }

    /// Loads Hugging Face's `tokenizer.json` with a WordPiece model and a BertNormalizer.
    public static func load(tokenizerJSON path: String) throws -> WordPieceTokenizer {
        guard let data = FileManager.default.contents(atPath: path),
              let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CortexError.invalidFile(path: path, reason: "not a tokenizer.json with a \"model\" object")
        }
        return try load(tokenizerJSON: root, path: path)
    }

    /// A parsed tokenizer.json's WordPiece (`path` names it in errors).
    static func load(tokenizerJSON root: [String: Any], path: String) throws -> WordPieceTokenizer {
        guard let model = root["model"] as? [String: Any] else {
            throw CortexError.invalidFile(path: path, reason: "not a tokenizer.json with a \"model\" object")
        }
        guard model["type"] as? String == "WordPiece", let rawVocabulary = model["vocab"] as? [String: Any] else {
            throw CortexError.invalidFile(path: path, reason: "model type \(model["type"] ?? "none") is not WordPiece")
        }
        var vocabulary: [String: Int] = [:]
        for (token, id) in rawVocabulary {
            guard let id = id as? Int else { throw CortexError.invalidFile(path: path, reason: "token \(token.debugDescription) has no integer id") }
            vocabulary[token] = id
        }
        let normalizer = root["normalizer"] as? [String: Any] ?? [:]
        return try WordPieceTokenizer(vocabulary: vocabulary, lowercase: normalizer["lowercase"] as? Bool ?? true,
                                      stripAccents: normalizer["strip_accents"] as? Bool,
                                      splitChineseCharacters: normalizer["handle_chinese_chars"] as? Bool ?? true,
                                      unknownToken: model["unk_token"] as? String ?? "[UNK]",
                                      continuationPrefix: model["continuing_subword_prefix"] as? String ?? "##",
                                      maximumCharactersPerWord: model["max_input_chars_per_word"] as? Int ?? 100, source: path)
    }

    // MARK: Encoding

    /// `[CLS]` + the pieces of `text` + `[SEP]`.
    public func encode(_ text: String) throws -> [Int] { encode(text, maxLength: nil) }

    /// As `encode`, the pieces cut so the whole sequence has at most `maxLength` ids.
    public func encode(_ text: String, maxLength: Int?) -> [Int] {
        var pieces = pieceIds(text)
        if let maxLength { pieces = Array(pieces.prefix(max(maxLength - 2, 0))) }
        return [vocabulary[classToken]!] + pieces + [vocabulary[separatorToken]!]
    }

    /// Several texts right-padded to the longest: ids (B × L) and the attention mask (true
    /// for real tokens).
    public func encodeBatch(_ texts: [String], maxLength: Int? = nil) -> (ids: [[Int]], mask: [[Bool]]) {
        let encoded = texts.map { encode($0, maxLength: maxLength) }
        let longest = encoded.map(\.count).max() ?? 0
        return (encoded.map { $0 + Array(repeating: paddingId, count: longest - $0.count) },
                encoded.map { Array(repeating: true, count: $0.count) + Array(repeating: false, count: longest - $0.count) })
    }

    /// The text's WordPiece ids without the special tokens.
    public func pieceIds(_ text: String) -> [Int] {
        var ids: [Int] = []
        let unknown = vocabulary[unknownToken]!
        for word in words(normalize(text)) {
            // Pieces are runs of Unicode scalars (not Swift Characters: a Hangul syllable's
            // jamo are one Character but separate pieces), looked up by their UTF-8 bytes.
            guard word.count <= maximumCharactersPerWord else { ids.append(unknown); continue }
            let offsets = word.reduce(into: [0]) { $0.append($0.last! + UTF8.width($1)) }
            let bytes = word.flatMap { Array(String($0).utf8) }
            var pieces: [Int] = []
            var start = 0
            while start < word.count {
                var end = word.count
                var found: Int?
                while start < end {
                    let candidate = Array(bytes[offsets[start]..<offsets[end]])
                    if let id = (start == 0 ? wordStarts : continuations)[candidate] { found = id; break }
                    end -= 1
                }
                guard let found else { break }
                pieces.append(found)
                start = end
            }
            ids += start < word.count ? [unknown] : pieces
        }
        return ids
    }

    /// BertNormalizer: clean, space out CJK ideographs, strip accents, lower-case.
    func normalize(_ text: String) -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if scalar.value == 0 || scalar.value == 0xFFFD || WordPieceTokenizer.isControl(scalar) { continue }
            if WordPieceTokenizer.isWhitespace(scalar) {
                scalars.append(" ")
            } else if splitChineseCharacters && WordPieceTokenizer.isChineseCharacter(scalar) {
                scalars += [" ", scalar, " "]
            } else {
                scalars.append(scalar)
            }
        }
        if stripAccents {
            var text = String.UnicodeScalarView()
            // Hangul syllables decompose algorithmically (Unicode 3.12); Foundation on Linux
            // leaves them composed.
            for scalar in scalars {
                let index = Int(scalar.value) - 0xAC00
                guard index >= 0 && index < 11_172 else { text.append(scalar); continue }
                text.append(Unicode.Scalar(UInt32(0x1100 + index / 588))!)
                text.append(Unicode.Scalar(UInt32(0x1161 + index % 588 / 28))!)
                if index % 28 != 0 { text.append(Unicode.Scalar(UInt32(0x11A7 + index % 28))!) }
            }
            scalars = String(text).decomposedStringWithCanonicalMapping.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
        }
        if lowercase {
            scalars = scalars.flatMap { $0.properties.lowercaseMapping.unicodeScalars }
        }
        return scalars
    }

    /// BertPreTokenizer: words split at whitespace, each punctuation character its own word.
    func words(_ scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        func flush() {
            if !current.isEmpty { words.append(current); current = [] }
        }
        for scalar in scalars {
            if scalar.properties.isWhitespace {
                flush()
            } else if WordPieceTokenizer.isPunctuation(scalar) {
                flush()
                words.append([scalar])
            } else {
                current.append(scalar)
            }
        }
        flush()
        return words
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar.properties.isWhitespace
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned: return true
        default: return false
        }
    }

    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII && (33...47 ~= scalar.value || 58...64 ~= scalar.value || 91...96 ~= scalar.value || 123...126 ~= scalar.value) {
            return true
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation,
             .otherPunctuation: return true
        default: return false
        }
    }

    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F, 0x2B820...0x2CEAF,
             0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }

    // MARK: Decoding

    /// The pieces joined into words (`##` continuations glued on); special tokens kept.
    public func decode(_ ids: [Int]) throws -> String {
        var text = ""
        for id in ids {
            guard tokens.indices.contains(id) else { throw CortexError.indexOutOfRange(operation: "WordPieceTokenizer.decode", index: id, bound: tokens.count) }
            let token = tokens[id]
            if token.hasPrefix(continuationPrefix) {
                text += token.dropFirst(continuationPrefix.count)
            } else {
                text += (text.isEmpty ? "" : " ") + token
            }
        }
        return text
    }
}
