import CortexCore
import CortexModels
import CortexTestSupport
import Foundation
import Testing

/// The GGUF architecture "qwen2" (a Llama with query, key and value biases, rotating halves of
/// each head): a random-weight Qwen2 converted by llama.cpp's own convert_hf_to_gguf.py (Q8_0,
/// GPT-2's tokenizer), against transformers loading the same file (fixtures from
/// Tools/make_qwen2_fixture.py).
@Suite struct Qwen2GGUFTests {
    static let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

    /// Logits within 1e-4 of transformers' (both compute in float32 from the same dequantised
    /// blocks; the logits are of order 1, so this is float rounding over two small layers), and
    /// the same 16 greedy tokens.
    @Test func logitsAndGreedyTokensMatchTransformers() throws {
        let reference = try Safetensors.load(Self.root + "/qwen2-random.reference.safetensors")
        let generator = try TextGenerator.load(gguf: Self.root + "/qwen2-random.gguf")
        let model = try #require(generator.model as? Llama)
        #expect(model.configuration.keyValueHeads == 2 && model.configuration.layers == 2)
        let prompt = try reference.tensor("prompt").toIntArray()
        #expect(try generator.tokenizer.encode("First Citizen: before we proceed any further") == prompt)
        try QuantizedMatrix.$activations.withValue(.float) {
            let logits = try withNoGrad { try model(Tensor(integers: prompt, shape: [1, prompt.count])) }
            let last = try logits.slice(axis: 1, start: prompt.count - 2, end: prompt.count).reshape([2, -1])
            let failure = try closenessFailure(last, reference.tensor("logits"), rtol: 0, atol: 1e-4)
            #expect(failure == nil, "\(failure ?? "")")
            // The model's own generate, without the generator's stop tokens (transformers was
            // told min_new_tokens=16).
            let greedy = try model.generate(prompt: prompt, maxNewTokens: 16, sampling: SamplingOptions(temperature: 0))
            #expect(Array(greedy.suffix(16)) == (try reference.tensor("greedy").toIntArray()))
        }
    }
}
