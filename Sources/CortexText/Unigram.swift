import CortexCore
import Foundation

/// SentencePiece's Unigram model (T5, ALBERT, XLM-RoBERTa; GGUF `tokenizer.ggml.model` "t5",
/// and tokenizer.json's `Unigram`), as Hugging Face's tokenizers runs it: the text is
/// normalized (a precompiled charsmap, runs of spaces made one), spaces become "▁" (one in front
/// where the Metaspace scheme puts it), the text is cut before each "▁", and each piece is
/// segmented by Viterbi: the segmentation whose pieces' log-probabilities sum highest, a
/// character no piece covers costing the lowest score less 10. Unknown characters become the
/// unknown token (consecutive ones fused), or their byte tokens `<0xNN>` with byte fallback.
///
/// ```swift
/// let tokenizer = try UnigramTokenizer.load(gguf: try GGUF.load("nomic-embed-text-v2-moe.gguf"))
/// let ids = try tokenizer.encode("Hello world")
/// ```
public struct UnigramTokenizer: Tokenizer, Sendable {
    public let pieces: [String]
    public let scores: [Double]
    public let specialTokens: [String: Int]
    public let unknownId: Int
    public let byteFallback: Bool
    public let charsmap: PrecompiledCharsmap?
    /// Whether runs of spaces become one space before anything else (Replace(" {2,}", " ")).
    public let collapsesSpaces: Bool
    public let spacePrefix: CharacterBPETokenizer.SpacePrefix
    public let splitsBeforeSpaces: Bool
    /// Whether the text is first cut into words at whitespace, which is dropped (Hugging Face's
    /// WhitespaceSplit before Metaspace, as T5's tokenizer.json has it): each word then takes
    /// the prefix on its own.
    public let splitsOnWhitespace: Bool
    private let pieceIds: PieceTable
    private let longestPiece: Int
    private let byteIds: [Int]
    private let unknownScore: Double
    private let splitter: SpecialTokenSplitter

    public var vocabularySize: Int { pieces.count }

    /// Token types as GGUF numbers them (1 normal, 2 unknown, 3 control, 4 user-defined, 5
    /// unused, 6 byte); control, unknown and user-defined tokens are matched whole in the text.
    public init(pieces: [String], scores: [Double], types: [Int], unknownId: Int, byteFallback: Bool = false, charsmap: PrecompiledCharsmap? = nil,
                collapsesSpaces: Bool = false, spacePrefix: CharacterBPETokenizer.SpacePrefix = .always, splitsBeforeSpaces: Bool = true,
                splitsOnWhitespace: Bool = false, source: String = "Unigram") throws {
        guard scores.count == pieces.count, types.isEmpty || types.count == pieces.count else {
            throw CortexError.invalidFile(path: source, reason: "\(pieces.count) pieces with \(scores.count) scores and \(types.count) types")
        }
        guard pieces.indices.contains(unknownId) else {
            throw CortexError.invalidFile(path: source, reason: "unknown token id \(unknownId) is outside the \(pieces.count) pieces")
        }
        self.pieces = pieces
        self.scores = scores
        self.unknownId = unknownId
        self.byteFallback = byteFallback
        self.charsmap = charsmap
        self.collapsesSpaces = collapsesSpaces
        self.spacePrefix = spacePrefix
        self.splitsBeforeSpaces = splitsBeforeSpaces
        self.splitsOnWhitespace = splitsOnWhitespace
        var specials: [String: Int] = [:]
        var bytes = [Int](repeating: -1, count: 256)
        for (id, piece) in pieces.enumerated() {
            let type = types.isEmpty ? 1 : types[id]
            if [2, 3, 4].contains(type), !piece.isEmpty, specials[piece] == nil { specials[piece] = id }
            if let value = SpaceMarking.byteValue(ofToken: piece) { bytes[Int(value)] = id }
        }
        specialTokens = specials
        splitter = SpecialTokenSplitter(specials)
        byteIds = bytes
        // Every piece is a lattice candidate (a later duplicate names the id, as Hugging Face's map keeps the last).
        pieceIds = PieceTable(pieces.enumerated().reversed().map { ($1, $0) })
        longestPiece = pieces.map(\.utf8.count).max() ?? 1
        unknownScore = (scores.min() ?? 0) - 10
    }

    /// The tokenizer of a GGUF file whose `tokenizer.ggml.model` is "t5": its pieces and
    /// scores, precompiled charsmap, add_space_prefix and remove_extra_whitespaces, read as
    /// XLM-RoBERTa's and T5's tokenizer.json define them.
    public static func load(gguf file: GGUF.File) throws -> UnigramTokenizer {
        let model = try file.string("tokenizer.ggml.model")
        guard model == "t5" else { throw CortexError.invalidFile(path: file.path, reason: "tokenizer model \"\(model)\" is not Unigram (\"t5\")") }
        let pieces = try file.strings("tokenizer.ggml.tokens")
        guard let scoreValues = file.metadata["tokenizer.ggml.scores"]?.array else {
            throw CortexError.invalidFile(path: file.path, reason: "no tokenizer.ggml.scores for the Unigram pieces")
        }
        let scores = try scoreValues.enumerated().map { index, value -> Double in
            guard let number = value.number else { throw CortexError.invalidFile(path: file.path, reason: "score \(index) is \(value), not a number") }
            return Double(Float(number))
        }
        let types = file.metadata["tokenizer.ggml.token_type"] == nil ? [] : try file.integers("tokenizer.ggml.token_type")
        var charsmap: PrecompiledCharsmap?
        if let blob = file.metadata["tokenizer.ggml.precompiled_charsmap"]?.array, !blob.isEmpty {
            let bytes = try blob.enumerated().map { index, value -> UInt8 in
                guard let number = value.integer, (0...255).contains(number) else {
                    throw CortexError.invalidFile(path: file.path, reason: "precompiled charsmap byte \(index) is \(value)")
                }
                return UInt8(number)
            }
            charsmap = try PrecompiledCharsmap(bytes, source: file.path)
        }
        let unknown = file.metadata["tokenizer.ggml.unknown_token_id"]?.integer ?? types.firstIndex(of: 2) ?? 0
        return try UnigramTokenizer(pieces: pieces, scores: scores, types: types, unknownId: unknown, byteFallback: types.contains(6), charsmap: charsmap,
                                    collapsesSpaces: file.metadata["tokenizer.ggml.remove_extra_whitespaces"]?.bool ?? false,
                                    spacePrefix: file.metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? true ? .always : .none,
                                    splitsBeforeSpaces: true, source: file.path)
    }

    public func encode(_ text: String) throws -> [Int] {
        let marking = SpaceMarking(prefix: spacePrefix, collapsesSpaces: collapsesSpaces, splitsBeforeSpaces: splitsBeforeSpaces)
        return splitter.encode(text) { run, atStart, output in
            func encodeWord(_ word: Substring.UTF8View, atStart: Bool) {
                marking.escape(word, atStart: atStart).withUnsafeBufferPointer { bytes in
                    marking.forEachPiece(bytes) { segment(UnsafeBufferPointer(rebasing: bytes[$0]), into: &output) }
                }
            }
            let normalized = charsmap?.normalize(run) ?? String(run)
            guard splitsOnWhitespace else { return encodeWord(Substring(normalized).utf8, atStart: atStart) }
            let scalars = normalized.unicodeScalars
            var index = scalars.startIndex
            while index < scalars.endIndex {
                guard !scalars[index].properties.isWhitespace else { index = scalars.index(after: index); continue }
                let start = index
                while index < scalars.endIndex && !scalars[index].properties.isWhitespace { index = scalars.index(after: index) }
                encodeWord(Substring(normalized[start..<index]).utf8, atStart: atStart && start == scalars.startIndex)
            }
        }
    }

    /// Viterbi over one piece: for each end position, the best path's score, the start of its
    /// last token and that token's id (the first best in order of start, then length).
    private func segment(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [Int]) {
        let count = bytes.count
        var bestScore = [Double](repeating: 0, count: count + 1)
        var bestStart = [Int](repeating: -1, count: count + 1)
        var bestId = [Int](repeating: -1, count: count + 1)
        func scalarLength(_ position: Int) -> Int {
            let lead = bytes[position]
            return min(lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, count - position)
        }
        func offer(_ end: Int, _ start: Int, _ id: Int, _ score: Double) {
            if bestStart[end] < 0 || score > bestScore[end] {
                bestScore[end] = score
                bestStart[end] = start
                bestId[end] = id
            }
        }
        var start = 0
        while start < count {
            let here = bestScore[start], single = scalarLength(start)
            var hasSingle = false
            // Pieces starting here, shortest first, ending on scalar boundaries.
            var end = start
            while end < count && end - start < longestPiece {
                end += scalarLength(end)
                if end - start > longestPiece { break }
                if let id = pieceIds.id(UnsafeBufferPointer(rebasing: bytes[start..<end])) {
                    offer(end, start, id, here + scores[id])
                    if end - start == single { hasSingle = true }
                }
            }
            if !hasSingle { offer(start + single, start, unknownId, here + unknownScore) }
            start += single
        }
        // Back from the end; consecutive unknown characters fuse into one token.
        var tokens: [(id: Int, range: Range<Int>)] = []
        var position = count
        while position > 0 {
            let from = bestStart[position], id = bestId[position]
            if id == unknownId, let last = tokens.last, last.id == unknownId {
                tokens[tokens.count - 1] = (id, from..<last.range.upperBound)
            } else {
                tokens.append((id, from..<position))
            }
            position = from
        }
        for (id, range) in tokens.reversed() {
            if id == unknownId && byteFallback && bytes[range].allSatisfy({ byteIds[Int($0)] >= 0 }) {
                for byte in bytes[range] { output.append(byteIds[Int(byte)]) }
            } else {
                output.append(id)
            }
        }
    }

    /// The text of `ids`: byte tokens give their bytes, "▁" a space; special tokens are left out.
    public func decode(_ ids: [Int]) throws -> String {
        try SpaceMarking.decode(ids, pieces: pieces, byteIds: byteFallback ? byteIds : [], specialTokens: specialTokens, stripsPrefix: spacePrefix != .none, operation: "UnigramTokenizer.decode")
    }
}
