import CortexCore
import Foundation

/// SentencePiece's BPE, as GGUF files carry it (`tokenizer.ggml.model` "llama": Llama 2,
/// Mistral, TinyLlama, Phi-3): spaces become "▁" (one more in front of the text with
/// `add_space_prefix`), the text starts as single characters, and the adjacent pair whose
/// joined piece has the highest score is joined, again and again (ties to the leftmost);
/// characters no piece covers fall back to byte tokens `<0xNN>`. This is the algorithm of
/// sentencepiece and llama.cpp, pair for pair.
///
/// ```swift
/// let tokenizer = try SentencePieceTokenizer.load(gguf: try GGUF.load("llama-2-7b.Q4_0.gguf"))
/// let ids = try tokenizer.encode("Hello world")   // [15043, 3186]
/// ```
public struct SentencePieceTokenizer: Tokenizer, Sendable {
    public let pieces: [String]
    public let scores: [Float]
    /// Every piece but the byte tokens, by text.
    private let pieceIds: PieceTable
    /// ASCII bytes that no piece of two or more scalars contains: they never join.
    private let standsAlone: [Bool]
    private let byteIds: [Int]
    /// Control tokens by text, matched whole in the text before it is split (`<s>`, `</s>`).
    public let specialTokens: [String: Int]
    private let splitter: SpecialTokenSplitter
    public let addSpacePrefix: Bool

    public var vocabularySize: Int { pieces.count }

    /// Token types as GGUF numbers them: 1 normal, 2 unknown, 3 control, 4 user-defined, 5
    /// unused, 6 byte.
    public init(pieces: [String], scores: [Float], types: [Int], addSpacePrefix: Bool = true, source: String = "SentencePiece") throws {
        guard scores.count == pieces.count, types.isEmpty || types.count == pieces.count else {
            throw CortexError.invalidFile(path: source, reason: "\(pieces.count) pieces with \(scores.count) scores and \(types.count) types")
        }
        self.pieces = pieces
        self.scores = scores
        self.addSpacePrefix = addSpacePrefix
        var entries: [(text: String, id: Int)] = [], specials: [String: Int] = [:]
        var bytes = [Int](repeating: -1, count: 256)
        var joins = [Bool](repeating: false, count: 128)
        for (id, piece) in pieces.enumerated() {
            let type = types.isEmpty ? 1 : types[id]
            if type == 6, let value = SpaceMarking.byteValue(ofToken: piece) {
                bytes[Int(value)] = id
                continue
            }
            if type == 3 || type == 4 { specials[piece] = id }
            entries.append((piece, id))
            if piece.unicodeScalars.count > 1 { for scalar in piece.unicodeScalars where scalar.isASCII { joins[Int(scalar.value)] = true } }
        }
        pieceIds = PieceTable(entries)
        standsAlone = joins.map { !$0 }
        self.byteIds = bytes
        specialTokens = specials.filter { !$0.key.isEmpty }
        splitter = SpecialTokenSplitter(specialTokens)
    }

    /// The tokenizer of a GGUF file whose `tokenizer.ggml.model` is "llama".
    public static func load(gguf file: GGUF.File) throws -> SentencePieceTokenizer {
        let model = try file.string("tokenizer.ggml.model")
        guard model == "llama" else {
            throw CortexError.invalidFile(path: file.path, reason: "tokenizer model \"\(model)\" is not SentencePiece (\"llama\")")
        }
        let pieces = try file.strings("tokenizer.ggml.tokens")
        guard let scoreValues = file.metadata["tokenizer.ggml.scores"]?.array else {
            throw CortexError.invalidFile(path: file.path, reason: "no tokenizer.ggml.scores for the SentencePiece pieces")
        }
        let scores = try scoreValues.enumerated().map { index, value -> Float in
            guard let number = value.number else { throw CortexError.invalidFile(path: file.path, reason: "score \(index) is \(value), not a number") }
            return Float(number)
        }
        let types = file.metadata["tokenizer.ggml.token_type"] == nil ? [] : try file.integers("tokenizer.ggml.token_type")
        return try SentencePieceTokenizer(pieces: pieces, scores: scores, types: types,
                                          addSpacePrefix: file.metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? true, source: file.path)
    }

    public func encode(_ text: String) throws -> [Int] {
        // Control tokens written in the text are taken whole; each run of text between them is
        // encoded with the space prefix (a run always follows the start or a control token).
        splitter.encode(text) { run, _, output in encodePlain(run, into: &output) }
    }

    /// One run of text: spaces as "▁", then the bigram joins by score. A scalar no piece of two
    /// or more scalars contains (a line break, in most vocabularies) stays a symbol of its own,
    /// so the text is joined in runs between such scalars: the same joins, with a small queue per run.
    private func encodePlain(_ text: Substring, into output: inout [Int]) {
        SpaceMarking(prefix: addSpacePrefix ? .unconditional : .none).escape(text.utf8, atStart: true).withUnsafeBufferPointer { bytes in
            var runStart = 0, index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte < 0x80 && standsAlone[Int(byte)] {
                    if runStart < index { encodeRun(bytes, runStart..<index, into: &output) }
                    encodeRun(bytes, index..<(index + 1), into: &output)
                    runStart = index + 1
                }
                index += 1
            }
            if runStart < bytes.count { encodeRun(bytes, runStart..<bytes.count, into: &output) }
        }
    }

    private func encodeRun(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into output: inout [Int]) {
        func piece(_ range: Range<Int>) -> Int32 { pieceIds.id(UnsafeBufferPointer(rebasing: bytes[range])).map(Int32.init) ?? -1 }
        joinAdjacentSymbols(bytes, range, initialId: piece, join: { _, _, joined in
            let id = piece(joined)
            return id < 0 ? nil : (scores[Int(id)], id)
        }, emit: { id, range in
            if id >= 0 {
                output.append(Int(id))
            } else {
                for byte in bytes[range] where byteIds[Int(byte)] >= 0 { output.append(byteIds[Int(byte)]) }
            }
        })
    }

    public func decode(_ ids: [Int]) throws -> String {
        try SpaceMarking.decode(ids, pieces: pieces, byteIds: byteIds, specialTokens: specialTokens, stripsPrefix: addSpacePrefix, operation: "SentencePieceTokenizer.decode")
    }
}

/// The tokenizer a GGUF file declares, whichever kind (`tokenizer.ggml.model`): byte-level BPE
/// ("gpt2"), SentencePiece ("llama"), WordPiece ("bert"), character-level BPE ("gemma4") or
/// Unigram ("t5"); other kinds are refused by name.
public enum GGUFTokenizer {
    public static func load(gguf file: GGUF.File) throws -> any Tokenizer {
        let model = try file.string("tokenizer.ggml.model")
        switch model {
        case "gpt2": return try ByteLevelBPETokenizer.load(gguf: file)
        case "llama": return try SentencePieceTokenizer.load(gguf: file)
        case "bert": return try WordPieceTokenizer.load(gguf: file)
        case "gemma4": return try CharacterBPETokenizer.load(gguf: file)
        case "t5": return try UnigramTokenizer.load(gguf: file)
        default:
            throw CortexError.invalidFile(path: file.path, reason: "tokenizer model \"\(model)\" is not supported (\"gpt2\" byte-level BPE, \"llama\" SentencePiece, \"bert\" WordPiece, \"gemma4\" character-level BPE and \"t5\" Unigram are)")
        }
    }
}
