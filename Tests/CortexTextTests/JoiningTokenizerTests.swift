import CortexCore
import CortexTestSupport
import Foundation
import Testing
@testable import CortexText

/// SentencePiece and character-level BPE on small vocabularies worked by hand (llama.cpp's
/// suite checks them on real ones).
@Suite struct JoiningTokenizerTests {
    // Types: 1 normal, 3 control, 6 byte.
    static let tokens = ["<bos>", "a", "b", "▁", "ab", "▁ab", "\n", "\n\n", "<0x63>", "<0xC3>", "<0xA9>", "e", "é"]
    static let types = [3, 1, 1, 1, 1, 1, 1, 1, 6, 6, 6, 1, 1]

    @Test func characterBPEMergesByRankWithByteFallback() throws {
        let tokenizer = try CharacterBPETokenizer(tokens: Self.tokens, types: Self.types, merges: [("a", "b"), ("▁", "ab")], isolatesLineBreakRuns: true)
        // "ab▁ab": a+b (rank 0) twice, then ▁+ab; "\n\n" whole; "c" falls back to its byte <0x63>.
        let text = "ab ab\n\nc é"
        let ids = try tokenizer.encode(text)
        #expect(ids == [4, 5, 7, 8, 3, 12])
        #expect(try tokenizer.decode(ids) == text)
        #expect(try tokenizer.encode("<bos>ab") == [0, 4])
        // Without Gemma's line-break runs, "\n\n" is two symbols that no merge joins.
        let plain = try CharacterBPETokenizer(tokens: Self.tokens, types: Self.types, merges: [("a", "b"), ("▁", "ab")])
        #expect(try plain.encode("ab\n\n") == [4, 6, 6])
        // "e" + U+0301 is not "é": the bytes decide, not canonical equivalence (CC 81 have no
        // byte tokens and are dropped).
        #expect(try tokenizer.encode("e\u{301}") == [11])
    }

    @Test func characterBPERefusesMergesOutsideTheVocabulary() {
        expectCortexError(["merge 2", "\"a z\"", "outside the vocabulary"]) {
            _ = try CharacterBPETokenizer(tokens: Self.tokens, types: Self.types, merges: [("a", "b"), ("a", "z")])
        }
        expectCortexError(["13 tokens with 2 token types"]) { _ = try CharacterBPETokenizer(tokens: Self.tokens, types: [1, 1], merges: []) }
    }

    @Test func sentencePieceJoinsByScoreAndComparesBytes() throws {
        let scores: [Float] = [0, -5, -5, -1, -2, -1, 0, 0, 0, 0, 0, -3, -3]
        let tokenizer = try SentencePieceTokenizer(pieces: Self.tokens, scores: scores, types: Self.types, addSpacePrefix: true)
        // "▁ab▁ab": ▁+a and a+b are not both pieces; ab (score -2) first, then ▁+ab (-1).
        #expect(try tokenizer.encode("ab ab") == [5, 5])
        // U+0301 is CC 81, which have no byte tokens: dropped.
        #expect(try tokenizer.encode("ab\nab") == [5, 6, 4])
        #expect(try tokenizer.encode("e\u{301}") == [3, 11])
        #expect(try tokenizer.encode("é") == [3, 12])
    }

    /// tokenizer.json's SentencePiece-style BPE in its three space forms (Llama 2's normalizer,
    /// Metaspace "first", Metaspace "always" with split), trained by Tools/make_character_bpe_fixtures.py,
    /// against Hugging Face's ids.
    @Test func tokenizerJSONCharacterBPEMatchesHuggingFace() throws {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("character-bpe.json")
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let texts = fixture["texts"] as! [String]
        let documents = fixture["tokenizers"] as! [String: Any], expected = fixture["ids"] as! [String: [[Int]]]
        #expect(documents.count == 3)
        for (name, document) in documents.sorted(by: { $0.key < $1.key }) {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("cortex-\(name)-\(UUID().uuidString).json").path
            try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let tokenizer = try TokenizerFiles.load(path)
            #expect(tokenizer is CharacterBPETokenizer, "\(name)")
            for (text, ids) in zip(texts, expected[name]!) {
                #expect(try tokenizer.encode(text) == ids, "\(name): \(text.prefix(60).debugDescription)")
            }
        }
    }
}
