import CortexCore
import CortexTestSupport
import Foundation
import Testing
@testable import CortexText

/// Unigram against Hugging Face's tokenizers (Fixtures/unigram.json, from
/// Tools/make_unigram_fixtures.py): XLM-RoBERTa's vocabulary and precompiled charsmap from
/// llama.cpp's suite GGUF, and a Unigram trained on tiny Shakespeare with byte fallback.
@Suite struct UnigramTests {
    static func fixture() throws -> [String: Any] {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("unigram.json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    @Test func tokenizerJSONUnigramMatchesHuggingFace() throws {
        let fixture = try Self.fixture()
        let texts = fixture["texts"] as! [String], expected = fixture["trained"] as! [[Int]]
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cortex-unigram-\(UUID().uuidString).json").path
        try JSONSerialization.data(withJSONObject: fixture["trained_tokenizer"]!).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tokenizer = try TokenizerFiles.load(path)
        #expect(tokenizer is UnigramTokenizer)
        for (text, ids) in zip(texts, expected) {
            let got = try tokenizer.encode(text)
            #expect(got == ids, "\(text.prefix(60).debugDescription)")
        }
        // Byte fallback and "▁" decode back to the text (this vocabulary has no normalizer).
        #expect(try tokenizer.decode(try tokenizer.encode("naïve café, 日本")) == "naïve café, 日本")
    }

    /// XLM-RoBERTa's 250,048 pieces with its NFKC charsmap (GGUF "t5"), when the suite is fetched.
    @Test func xlmRobertaFromGGUFMatchesHuggingFace() throws {
        let path = (LlamaVocabularySuiteTests.directory as NSString).appendingPathComponent("ggml-vocab-nomic-bert-moe.gguf")
        guard FileManager.default.fileExists(atPath: path) else {
            print("skipping XLM-RoBERTa's Unigram: \(path) is missing (bash Tools/fetch-pretrained.sh fetches it)")
            return
        }
        let fixture = try Self.fixture()
        let texts = fixture["texts"] as! [String], expected = fixture["xlm-roberta"] as! [[Int]]
        let tokenizer = try GGUFTokenizer.load(gguf: GGUF.load(path))
        #expect(tokenizer is UnigramTokenizer)
        var matched = 0
        for (text, ids) in zip(texts, expected) {
            let got = try tokenizer.encode(text)
            #expect(got == ids, "\(text.prefix(60).debugDescription)")
            if got == ids { matched += 1 }
        }
        print("XLM-RoBERTa Unigram: \(matched)/\(texts.count) texts as Hugging Face")
        // The same vocabulary in T5's pipeline: words cut at whitespace first, each prefixed.
        let unigram = try #require(tokenizer as? UnigramTokenizer)
        let t5Style = try UnigramTokenizer(pieces: unigram.pieces, scores: unigram.scores,
                                           types: unigram.pieces.indices.map { unigram.specialTokens[unigram.pieces[$0]] == $0 ? 3 : 1 },
                                           unknownId: unigram.unknownId, charsmap: unigram.charsmap, collapsesSpaces: true, splitsOnWhitespace: true)
        for (text, ids) in zip(texts, fixture["t5-style"] as! [[Int]]) {
            #expect(try t5Style.encode(text) == ids, "T5 style: \(text.prefix(60).debugDescription)")
        }
    }

    @Test func tokenizerJSONReadsT5sPreTokenizer() throws {
        var document = try Self.fixture()["trained_tokenizer"] as! [String: Any]
        document["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "WhitespaceSplit"],
                                                                           ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true]]]
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cortex-t5-\(UUID().uuidString).json").path
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tokenizer = try UnigramTokenizer.load(tokenizerJSON: path)
        #expect(tokenizer.splitsOnWhitespace && tokenizer.spacePrefix == .always)
        // Whitespace of any kind separates words and is dropped: the same ids as single spaces.
        #expect(try tokenizer.encode("to be\n\tor  not") == (try tokenizer.encode("to be or not")))
    }

    @Test func badUnigramInputIsATypedError() {
        expectCortexError(["precompiled charsmap trie size"]) { _ = try PrecompiledCharsmap([0xFF, 0xFF, 0, 0, 1, 2]) }
        expectCortexError(["unknown token id 9"]) { _ = try UnigramTokenizer(pieces: ["a"], scores: [0], types: [], unknownId: 9) }
        expectCortexError(["2 pieces with 1 scores"]) { _ = try UnigramTokenizer(pieces: ["a", "b"], scores: [0], types: [], unknownId: 0) }
    }

    /// Viterbi picks the segmentation with the highest total score; an uncovered character costs
    /// the lowest score less 10 and becomes the unknown token.
    @Test func viterbiPrefersTheBestTotalScore() throws {
        // "▁ab" as one piece (-5) loses to "▁a" + "b" (-1 + -1).
        let tokenizer = try UnigramTokenizer(pieces: ["<unk>", "▁a", "b", "▁ab", "▁", "a"], scores: [0, -1, -1, -5, -2, -2], types: [2, 1, 1, 1, 1, 1], unknownId: 0)
        #expect(try tokenizer.encode("ab") == [1, 2])
        #expect(try tokenizer.encode("ab zz") == [1, 2, 4, 0])
    }
}
