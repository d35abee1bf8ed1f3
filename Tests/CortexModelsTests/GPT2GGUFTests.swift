import Foundation
import Testing
import CortexCore
import CortexNN
@testable import CortexModels
import CortexTestSupport

/// GPT-2 from GGUF files in llama.cpp's layout (Tools/make_gpt2_gguf_fixtures.py): a random
/// 2-layer GPT-2 as float32 and as Q8_0, against transformers' float32 logits of the same
/// stored values (on the float path: rtol 0, atol 1e-4); the integer path of the Q8_0 file
/// within 0.05 of them; cached greedy decoding equal to uncached; files of other
/// architectures refused with the reason. (The 124M files convert_hf_to_gguf.py writes,
/// Tools/make-gpt2-gguf.sh, decode the same greedy tokens as their safetensors source.)
@Suite struct GPT2GGUFTests {
    static let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path + "/gpt2-gguf"

    @Test(arguments: ["f32", "q8_0"])
    func logitsMatchTransformers(_ type: String) throws {
        let model = try GPT.load(gguf: GPT2GGUFTests.root + "/gpt2-tiny-\(type).gguf")
        #expect(model.configuration == GPTConfiguration(vocabularySize: 300, contextLength: 64, embeddingSize: 64, layers: 2, heads: 4, dropout: 0))
        let reference = try Safetensors.load(GPT2GGUFTests.root + "/gpt2-tiny.reference.safetensors")
        let ids = try reference.tensor("ids"), expected = try reference.tensor("logits_\(type)")
        let logits = try QuantizedMatrix.$activations.withValue(.float) { try withNoGrad { try model(ids) } }
        #expect(try closenessFailure(logits, expected, rtol: 0, atol: 1e-4) == nil, "\(type)")
        // Decoding one position at a time (the matrix-vector kernels, the integer path where
        // the format has one) against the same logits.
        let flat = try ids.toIntArray()
        for activations in [QuantizedMatrix.Activations.float, .integer] {
            try QuantizedMatrix.$activations.withValue(activations) {
                let cache = try model.makeCache()
                var rows: [Tensor] = []
                for position in 0..<12 {
                    rows.append(try withNoGrad { try model.nextTokenLogits(Tensor(integers: [flat[position]], shape: [1, 1]), cache: cache, padding: nil) })
                }
                let decoded = try Tensor.stack(rows, axis: 1)
                let tolerance: Float = activations == .float ? 1e-4 : 0.05
                #expect(try closenessFailure(decoded, expected.slice(axis: 0, start: 0, end: 1), rtol: 0, atol: tolerance) == nil, "\(type), \(activations)")
            }
        }
        let prompt = Array(flat[0..<4])
        let cached = try model.generate(prompt: prompt, maxNewTokens: 8, sampling: SamplingOptions(temperature: 0))
        var uncached = prompt
        for _ in 0..<8 {
            let all = try withNoGrad { try model(Tensor(integers: uncached, shape: [1, uncached.count])) }
            uncached.append(try all.select(axis: 1, index: uncached.count - 1).reshape([-1]).argmax().toIntArray()[0])
        }
        #expect(cached == uncached, "\(type)")
    }

    @Test func otherArchitecturesAreRefused() throws {
        let blocks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../CortexCoreTests/Fixtures/gguf/blocks.gguf").standardized.path
        expectCortexError(["architecture \"llama\" is not GPT-2"]) { _ = try GPT.load(gguf: blocks) }
        expectCortexError(["architecture \"gpt2\" is not a Llama"]) { _ = try Llama.load(gguf: GPT2GGUFTests.root + "/gpt2-tiny-f32.gguf") }
    }
}
