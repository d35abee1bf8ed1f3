import CortexCore
import Foundation

/// Byte-level byte-pair encoding as GPT-2 defines it: text is split by ``GPT2PreTokenizer``
/// (or the pre-tokenization the tokenizer declares: Llama 3's pattern, isolated digits),
/// each piece's UTF-8 bytes start as one token each (bytes written as the printable characters
/// of GPT-2's byte-to-unicode table), and merges apply in rank order. Special tokens such as
/// `<|endoftext|>` are matched in the text first, as Hugging Face's tokenizers do.
///
/// ```swift
/// let tokenizer = try ByteLevelBPETokenizer.load(directory: "../shared/data/gpt2-tokenizer")
/// try tokenizer.encode("Hello world")     // [15496, 995]
/// ```
public final class ByteLevelBPETokenizer: Tokenizer, @unchecked Sendable {
    /// Token text (in byte-to-unicode form) to id, rebuilt from the stored bytes on each use
    /// (the tokenizer itself keeps only the bytes: a 50,000-token dictionary of strings would
    /// be megabytes that encoding never reads).
    public var vocabulary: [String: Int] {
        var entries: [String: Int] = [:]
        entries.reserveCapacity(vocabularySize)
        for id in 0..<vocabularySize where tokenStarts[id] >= 0 && !specialOnly.contains(id) {
            entries[oddTokens[id] ?? String(String.UnicodeScalarView(tokenBytes(id).map { ByteLevelBPETokenizer.byteToScalar[Int($0)] }))] = id
        }
        return entries
    }
    /// Merge rules in rank order (rebuilt from the ids; the tokenizer keeps 8 bytes per rule).
    public var merges: [(String, String)] {
        var tokens = [String](repeating: "", count: vocabularySize)
        for (token, id) in vocabulary { tokens[id] = token }
        return mergeOrder.map { (tokens[Int($0.left)], tokens[Int($0.right)]) }
    }
    /// Special tokens (matched verbatim in text) to id.
    public let specialTokens: [String: Int]
    /// How text is split before merging (GPT-2's pattern unless the tokenizer declares another).
    public let preTokenization: PreTokenization
    /// Whether a piece that is itself a token becomes that token without merging (Hugging
    /// Face's `ignore_merges`, which Llama 3's tokenizer sets: the merges could reach another split).
    public let ignoresMerges: Bool
    /// Tokens by their bytes, where ``ignoresMerges`` looks them up.
    private let wholeTokens: [[UInt8]: Int32]

    private let byteIds: [Int32]
    private let mergeTable: [UInt64: (rank: Int32, id: Int32)]
    private let mergeOrder: [(left: Int32, right: Int32)]
    /// Every token's bytes end to end; token i is tokenStorage[tokenStarts[i]..<tokenStarts[i + 1]],
    /// and a negative start marks an id with no token.
    private let tokenStorage: [UInt8]
    private let tokenStarts: [Int32]
    /// Vocabulary entries not in byte-to-unicode form, and special tokens outside the vocabulary.
    private let oddTokens: [Int: String]
    private let specialOnly: Set<Int>
    private let splitter: SpecialTokenSplitter
    private var cache: [String: [Int32]] = [:]
    private let cacheLock = NSLock()
    private static let cacheLimit = 200_000

    public var vocabularySize: Int { tokenStarts.count - 1 }

    /// Builds a tokenizer from its vocabulary and merges; each merge's parts and result must be
    /// in the vocabulary.
    public init(vocabulary: [String: Int], merges: [(String, String)], specialTokens: [String: Int] = [:],
                preTokenization: PreTokenization = .gpt2, ignoresMerges: Bool = false, source: String = "tokenizer") throws {
        self.preTokenization = preTokenization
        self.ignoresMerges = ignoresMerges
        var specials = specialTokens
        for (token, id) in vocabulary where token.hasPrefix("<|") && token.hasSuffix("|>") && specials[token] == nil { specials[token] = id }
        self.specialTokens = specials
        try checkTokenIdentifiers(vocabulary, specials, source: source)
        let size = max((vocabulary.values.max() ?? -1), (specials.values.max() ?? -1)) + 1
        var bytes = [[UInt8]?](repeating: nil, count: size)
        var odd: [Int: String] = [:]
        for (token, id) in vocabulary {
            guard id >= 0 else { throw CortexError.invalidFile(path: source, reason: "token \(token.debugDescription) has negative id \(id)") }
            bytes[id] = ByteLevelBPETokenizer.bytes(ofToken: token)
            if bytes[id] == nil { odd[id] = token }
        }
        var specialOnly = Set<Int>()
        for (token, id) in specials where id >= 0 {
            if vocabulary[token] != id { specialOnly.insert(id) } else if odd[id] != nil { odd[id] = token }
            bytes[id] = Array(token.utf8)
        }
        oddTokens = odd
        self.specialOnly = specialOnly
        var storage: [UInt8] = [], starts: [Int32] = []
        starts.reserveCapacity(size + 1)
        for token in bytes {
            starts.append(token == nil ? -1 : Int32(storage.count))
            storage += token ?? []
        }
        starts.append(Int32(storage.count))
        tokenStorage = storage
        tokenStarts = starts
        // A byte without a token (some vocabularies leave out rare control bytes) is dropped
        // from the text after merging, as Hugging Face's BPE does without an unknown token.
        byteIds = (0..<256).map { byte -> Int32 in vocabulary[String(ByteLevelBPETokenizer.byteToScalar[byte])].map(Int32.init) ?? -1 }
        guard byteIds.contains(where: { $0 >= 0 }) else {
            throw CortexError.invalidFile(path: source, reason: "the vocabulary has no byte tokens (not a byte-level BPE vocabulary)")
        }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        var order: [(left: Int32, right: Int32)] = []
        table.reserveCapacity(merges.count)
        order.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let leftId = vocabulary[left], let rightId = vocabulary[right], let merged = vocabulary[left + right] else {
                throw CortexError.invalidFile(path: source, reason: "merge \(rank + 1) \"\(left) \(right)\" uses or makes a token outside the vocabulary")
            }
            let key = UInt64(UInt32(leftId)) << 32 | UInt64(UInt32(rightId))
            if table[key] == nil { table[key] = (Int32(rank), Int32(merged)) }
            order.append((Int32(leftId), Int32(rightId)))
        }
        mergeTable = table
        mergeOrder = order
        var whole: [[UInt8]: Int32] = [:]
        if ignoresMerges {
            for (token, id) in vocabulary where !specialOnly.contains(id) {
                if let tokenBytes = ByteLevelBPETokenizer.bytes(ofToken: token), whole[tokenBytes] == nil { whole[tokenBytes] = Int32(id) }
            }
        }
        wholeTokens = whole
        splitter = SpecialTokenSplitter(specials)
    }

    // MARK: Encoding

    /// The ids of `text`; special tokens in it become their ids unless `splitSpecialTokens` is false.
    public func encode(_ text: String) throws -> [Int] { encode(text, splitSpecialTokens: true) }

    public func encode(_ text: String, splitSpecialTokens: Bool) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3)
        forEachSegment(text, splitSpecialTokens: splitSpecialTokens) { segment, special in
            if let special { ids.append(special); return }
            preTokenization.forEachPiece(String(segment)) { piece in
                guard preTokenization.splitsBytes else {
                    for id in encodePiece(String(piece)) { ids.append(Int(id)) }
                    return
                }
                var text = String(piece)
                text.withUTF8 { bytes in
                    preTokenization.forEachBytePiece(bytes) { range in
                        // A range cut inside a character is merged as it is, uncached.
                        let part = UnsafeBufferPointer(rebasing: bytes[range])
                        let encoded = String(validating: part, as: UTF8.self).map(encodePiece) ?? merge(part)
                        for id in encoded { ids.append(Int(id)) }
                    }
                }
            }
        }
        return ids
    }

    /// Splits `text` around special tokens (longest first at each position), unless told not to.
    private func forEachSegment(_ text: String, splitSpecialTokens: Bool, _ body: (Substring, Int?) -> Void) {
        if splitSpecialTokens { splitter.forEachSegment(text, body) } else { body(Substring(text), nil) }
    }

    /// The merged ids of one pre-tokenized piece (cached).
    private func encodePiece(_ piece: String) -> [Int32] {
        cacheLock.lock()
        if let cached = cache[piece] { cacheLock.unlock(); return cached }
        cacheLock.unlock()
        if ignoresMerges, let id = wholeTokens[Array(piece.utf8)] { return [id] }
        var text = piece
        let word = text.withUTF8 { merge($0) }
        cacheLock.lock()
        if cache.count >= ByteLevelBPETokenizer.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[piece] = word
        cacheLock.unlock()
        return word
    }

    /// The ids of `bytes` after the merges, in rank order.
    private func merge(_ bytes: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var word = bytes.map { byteIds[Int($0)] }
        while word.count > 1 {
            var best: (rank: Int32, id: Int32) = (.max, -1)
            var bestLeft: Int32 = -1, bestRight: Int32 = -1
            for index in 0..<(word.count - 1) {
                if let merge = mergeTable[UInt64(UInt32(bitPattern: word[index])) << 32 | UInt64(UInt32(bitPattern: word[index + 1]))], merge.rank < best.rank {
                    best = merge
                    bestLeft = word[index]
                    bestRight = word[index + 1]
                }
            }
            if best.id < 0 { break }
            var merged: [Int32] = []
            merged.reserveCapacity(word.count - 1)
            var index = 0
            while index < word.count {
                if index + 1 < word.count && word[index] == bestLeft && word[index + 1] == bestRight {
                    merged.append(best.id)
                    index += 2
                } else {
                    merged.append(word[index])
                    index += 1
                }
            }
            word = merged
        }
        word.removeAll { $0 < 0 }
        return word
    }

    // MARK: Decoding

    /// The text of `ids` (invalid UTF-8 from a partial sequence becomes U+FFFD, as in Hugging Face).
    public func decode(_ ids: [Int]) throws -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }

    /// The raw bytes of `ids`.
    public func decodeBytes(_ ids: [Int]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            guard id >= 0, id < vocabularySize, tokenStarts[id] >= 0 else {
                throw CortexError.indexOutOfRange(operation: "ByteLevelBPETokenizer.decode", index: id, bound: vocabularySize)
            }
            bytes += tokenBytes(id)
        }
        return bytes
    }

    /// The stored bytes of a present token: the next present token's start ends them.
    private func tokenBytes(_ id: Int) -> ArraySlice<UInt8> {
        var end = id + 1
        while tokenStarts[end] < 0 { end += 1 }
        return tokenStorage[Int(tokenStarts[id])..<Int(tokenStarts[end])]
    }

    // MARK: The byte-to-unicode table

    /// GPT-2's printable stand-in for each byte: printable Latin-1 bytes stand for themselves,
    /// the rest map in order to U+0100 onwards.
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    static let scalarToByte: [UInt32: UInt8] = Dictionary(uniqueKeysWithValues: byteToScalar.enumerated().map { ($1.value, UInt8($0)) })

    /// The bytes a vocabulary token stands for (nil where it is not in byte-to-unicode form).
    static func bytes(ofToken token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = scalarToByte[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// The byte-to-unicode form of raw bytes.
    static func token(ofBytes bytes: some Sequence<UInt8>) -> String {
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(byteToScalar[Int(byte)]) }
        return String(text)
    }
}
