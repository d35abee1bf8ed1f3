import CortexCore

/// Learning a byte-level BPE vocabulary from a corpus, as Hugging Face's ByteLevelBPETokenizer
/// trainer does: the corpus is pre-tokenized as GPT-2 does, the 256 bytes are the initial
/// alphabet, and the most frequent adjacent pair is merged until the vocabulary has the
/// requested size (ties go to the pair whose merged bytes sort first, so training is
/// deterministic).
///
/// ```swift
/// let tokenizer = try BPETrainer.train(corpus: text, vocabularySize: 1000, specialTokens: ["<|endoftext|>"])
/// try tokenizer.save(directory: "my-tokenizer")
/// ```
public enum BPETrainer {
    public static func train(corpus: String, vocabularySize: Int, specialTokens: [String] = [],
                             minimumFrequency: Int = 2) throws -> ByteLevelBPETokenizer {
        guard vocabularySize >= 256 + specialTokens.count else {
            throw CortexError.invalidArgument(operation: "BPETrainer.train",
                                              reason: "vocabulary size \(vocabularySize) is below the 256 bytes plus \(specialTokens.count) special tokens")
        }
        // Distinct pieces with their counts, as sequences of symbol ids.
        var pieceCounts: [String: Int] = [:]
        GPT2PreTokenizer.forEachPiece(corpus) { pieceCounts[String($0), default: 0] += 1 }
        var words: [[Int]] = [], counts: [Int] = []
        for (piece, count) in pieceCounts.sorted(by: { $0.key < $1.key }) {
            words.append(piece.utf8.map(Int.init))
            counts.append(count)
        }
        var symbols: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        var merges: [(Int, Int)] = []

        // Pair counts and, for each pair, the words it occurs in.
        var pairCounts: [Pair: Int] = [:]
        var wordsWithPair: [Pair: Set<Int>] = [:]
        func addPairs(of word: Int, _ sign: Int) {
            let symbolsOfWord = words[word]
            guard symbolsOfWord.count > 1 else { return }
            for index in 0..<(symbolsOfWord.count - 1) {
                let pair = Pair(left: symbolsOfWord[index], right: symbolsOfWord[index + 1])
                pairCounts[pair, default: 0] += sign * counts[word]
                if sign > 0 { wordsWithPair[pair, default: []].insert(word) }
            }
        }
        for word in words.indices { addPairs(of: word, 1) }

        let targetMerges = vocabularySize - 256 - specialTokens.count
        while merges.count < targetMerges {
            var best: (pair: Pair, count: Int)?
            for (pair, count) in pairCounts where count >= minimumFrequency {
                if let current = best {
                    if count < current.count { continue }
                    if count == current.count && !(symbols[pair.left] + symbols[pair.right]).lexicographicallyPrecedes(
                        symbols[current.pair.left] + symbols[current.pair.right]) { continue }
                }
                best = (pair, count)
            }
            guard let (pair, _) = best else { break }
            let merged = symbols.count
            symbols.append(symbols[pair.left] + symbols[pair.right])
            merges.append((pair.left, pair.right))
            for word in wordsWithPair[pair] ?? [] {
                addPairs(of: word, -1)
                var old = words[word], updated: [Int] = []
                updated.reserveCapacity(old.count)
                var index = 0
                while index < old.count {
                    if index + 1 < old.count && old[index] == pair.left && old[index + 1] == pair.right {
                        updated.append(merged)
                        index += 2
                    } else {
                        updated.append(old[index])
                        index += 1
                    }
                }
                old = updated
                words[word] = old
                addPairs(of: word, 1)
            }
            pairCounts[pair] = nil
            wordsWithPair[pair] = nil
            pairCounts = pairCounts.filter { $0.value > 0 }
        }

        var vocabulary: [String: Int] = [:]
        for (id, bytes) in symbols.enumerated() { vocabulary[ByteLevelBPETokenizer.token(ofBytes: bytes)] = id }
        var specials: [String: Int] = [:]
        for (offset, token) in specialTokens.enumerated() { specials[token] = symbols.count + offset }
        let mergeStrings = merges.map { (ByteLevelBPETokenizer.token(ofBytes: symbols[$0.0]), ByteLevelBPETokenizer.token(ofBytes: symbols[$0.1])) }
        return try ByteLevelBPETokenizer(vocabulary: vocabulary, merges: mergeStrings, specialTokens: specials, source: "BPETrainer")
    }

    struct Pair: Hashable {
        var left: Int, right: Int
    }
}
