import CortexCore
import Foundation

/// Byte-pair encoding over characters with byte fallback: SentencePiece-style BPE written as
/// ranked merges, as Gemma 4's GGUF files carry it (`tokenizer.ggml.model` "gemma4") and as
/// Hugging Face's `BPE` model with `byte_fallback` runs it. Spaces become "▁", the text starts
/// as one symbol per character, the adjacent pair with the lowest-ranked merge is joined
/// (leftmost first) until none is left, and a symbol that is not a token falls back to byte
/// tokens `<0xNN>`. As llama.cpp does for Gemma 4, runs of line breaks are cut from the text
/// around them and taken whole where they are a token ("\n\n").
///
/// ```swift
/// let tokenizer = try CharacterBPETokenizer.load(gguf: try GGUF.load("gemma-4.gguf"))
/// let ids = try tokenizer.encode("Hello world")
/// ```
public struct CharacterBPETokenizer: Tokenizer, Sendable {
    /// Where a "▁" goes in front of the text between special tokens.
    public enum SpacePrefix: Sendable, Equatable {
        /// None (Gemma 4).
        case none
        /// Before every run of text, even one that starts with a space (the Prepend("▁")
        /// normalizer of Llama 2's tokenizer.json).
        case unconditional
        /// Before the run at the start of the text, unless it starts with a space (Metaspace
        /// with prepend_scheme "first").
        case first
        /// Before every run, unless it starts with a space (Metaspace, prepend_scheme "always").
        case always
    }

    public let tokens: [String]
    /// Control and user-defined tokens by text, matched whole in the text before it is split.
    public let specialTokens: [String: Int]
    public let spacePrefix: SpacePrefix
    /// Whether the text is cut before every "▁" and each piece merged alone (Metaspace's split).
    public let splitsBeforeSpaces: Bool
    /// Whether runs of line breaks are cut from the text and taken whole where they are a
    /// token (llama.cpp's Gemma 4).
    public let isolatesLineBreakRuns: Bool
    /// The token for a character that neither a token nor byte tokens cover (consecutive ones
    /// fused into one); without it such characters are dropped.
    public let unknownId: Int?
    private let pieceIds: PieceTable
    private let byteIds: [Int]
    /// (left id, right id) to the merge's rank and the joined token's id.
    private let mergeTable: [UInt64: (rank: Int32, id: Int32)]
    private let splitter: SpecialTokenSplitter

    public var vocabularySize: Int { tokens.count }

    /// Token types as GGUF numbers them (1 normal, 3 control, 4 user-defined, 6 byte; without
    /// types, tokens written `<0xNN>` are the byte tokens); every merge's parts and joined text
    /// must be tokens.
    public init(tokens: [String], types: [Int], merges: [(String, String)], spacePrefix: SpacePrefix = .none, splitsBeforeSpaces: Bool = false,
                isolatesLineBreakRuns: Bool = false, unknownId: Int? = nil, source: String = "BPE") throws {
        guard types.isEmpty || types.count == tokens.count else {
            throw CortexError.invalidFile(path: source, reason: "\(tokens.count) tokens with \(types.count) token types")
        }
        self.tokens = tokens
        self.spacePrefix = spacePrefix
        self.splitsBeforeSpaces = splitsBeforeSpaces
        self.isolatesLineBreakRuns = isolatesLineBreakRuns
        self.unknownId = unknownId
        var entries: [(text: String, id: Int)] = [], specials: [String: Int] = [:]
        var bytes = [Int](repeating: -1, count: 256)
        for (id, token) in tokens.enumerated() {
            let type = types.isEmpty ? 1 : types[id]
            if type == 6 || types.isEmpty, let value = SpaceMarking.byteValue(ofToken: token) {
                bytes[Int(value)] = id
                continue
            }
            if type == 3 || type == 4, !token.isEmpty { specials[token] = id }
            entries.append((token, id))
        }
        let pieceIds = PieceTable(entries)
        self.pieceIds = pieceIds
        byteIds = bytes
        specialTokens = specials
        splitter = SpecialTokenSplitter(specials)
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let leftId = pieceIds.id(left), let rightId = pieceIds.id(right), let joined = pieceIds.id(left + right) else {
                throw CortexError.invalidFile(path: source, reason: "merge \(rank + 1) \"\(left) \(right)\" uses or makes a token outside the vocabulary")
            }
            let key = UInt64(UInt32(leftId)) << 32 | UInt64(UInt32(rightId))
            if table[key] == nil { table[key] = (Int32(rank), Int32(joined)) }
        }
        mergeTable = table
    }

    /// The tokenizer of a GGUF file whose `tokenizer.ggml.model` is "gemma4".
    public static func load(gguf file: GGUF.File) throws -> CharacterBPETokenizer {
        let model = try file.string("tokenizer.ggml.model")
        guard model == "gemma4" else {
            throw CortexError.invalidFile(path: file.path, reason: "tokenizer model \"\(model)\" is not character-level BPE (\"gemma4\")")
        }
        let tokens = try file.strings("tokenizer.ggml.tokens")
        let types = file.metadata["tokenizer.ggml.token_type"] == nil ? [] : try file.integers("tokenizer.ggml.token_type")
        // A merge is "left right", cut at the first space after the first character (as
        // llama.cpp reads them: a part may itself be a space).
        let merges = try file.strings("tokenizer.ggml.merges").enumerated().map { index, merge -> (String, String) in
            let utf8 = Array(merge.utf8)
            guard utf8.count > 2, let space = utf8[1...].firstIndex(of: 0x20) else {
                throw CortexError.invalidFile(path: file.path, reason: "merge \(index + 1) \(merge.debugDescription) is not \"a b\"")
            }
            return (String(decoding: utf8[..<space], as: UTF8.self), String(decoding: utf8[(space + 1)...], as: UTF8.self))
        }
        let prefix = file.metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? false
        return try CharacterBPETokenizer(tokens: tokens, types: types, merges: merges, spacePrefix: prefix ? .unconditional : .none,
                                         isolatesLineBreakRuns: true, unknownId: file.metadata["tokenizer.ggml.unknown_token_id"]?.integer, source: file.path)
    }

    public func encode(_ text: String) throws -> [Int] {
        splitter.encode(text) { run, atStart, output in encodePlain(run, atStart: atStart, into: &output) }
    }

    /// One run of text between special tokens: escaped, prefixed, cut (before spaces, around
    /// line-break runs) and merged.
    private func encodePlain(_ text: Substring, atStart: Bool, into output: inout [Int]) {
        let marking = SpaceMarking(prefix: spacePrefix, splitsBeforeSpaces: splitsBeforeSpaces)
        marking.escape(text.utf8, atStart: atStart).withUnsafeBufferPointer { bytes in
            guard isolatesLineBreakRuns else {
                return marking.forEachPiece(bytes) { encodeRun(bytes, $0, into: &output) }
            }
            var start = 0
            while start < bytes.count {
                let breaks = bytes[start] == 0x0A
                var end = start + 1
                while end < bytes.count && (bytes[end] == 0x0A) == breaks { end += 1 }
                if breaks, let id = pieceIds.id(UnsafeBufferPointer(rebasing: bytes[start..<end])) {
                    output.append(id)
                } else {
                    encodeRun(bytes, start..<end, into: &output)
                }
                start = end
            }
        }
    }

    private func encodeRun(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into output: inout [Int]) {
        var lastWasUnknown = false
        joinAdjacentSymbols(bytes, range, initialId: { pieceIds.id(UnsafeBufferPointer(rebasing: bytes[$0])).map(Int32.init) ?? -1 }, join: { left, right, _ in
            guard left >= 0, right >= 0, let merge = mergeTable[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))] else { return nil }
            return (-Float(merge.rank), merge.id)
        }, emit: { id, range in
            if id >= 0 {
                output.append(Int(id))
                lastWasUnknown = false
            } else if bytes[range].allSatisfy({ byteIds[Int($0)] >= 0 }) {
                for byte in bytes[range] { output.append(byteIds[Int(byte)]) }
                lastWasUnknown = false
            } else if let unknownId {
                if !lastWasUnknown { output.append(unknownId) }
                lastWasUnknown = true
            }
        })
    }

    /// The text of `ids`: byte tokens give their bytes, "▁" a space; special tokens are left out.
    public func decode(_ ids: [Int]) throws -> String {
        try SpaceMarking.decode(ids, pieces: tokens, byteIds: byteIds, specialTokens: specialTokens, stripsPrefix: spacePrefix != .none, operation: "CharacterBPETokenizer.decode")
    }
}
