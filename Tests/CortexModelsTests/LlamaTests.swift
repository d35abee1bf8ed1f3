import Foundation
import Testing
import CortexCore
import CortexNN
import CortexText
@testable import CortexModels
import CortexTestSupport

/// Llama against Hugging Face transformers (Tools/make_llama_fixtures.py): a random
/// safetensors checkpoint with grouped-query attention and llama3 rope scaling, and the real
/// SmolLM2-135M-Instruct GGUF file (skipped with a message where it has not been fetched).
@Suite struct LlamaTests {
    static let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

    @Test func safetensorsLogitsGreedyAndCacheMatch() throws {
        let model = try Llama.load(directory: LlamaTests.root + "/llama-2layer")
        let reference = try Safetensors.load(LlamaTests.root + "/llama-2layer.reference.safetensors")
        let ids = try reference.tensor("ids")
        let logits = try withNoGrad { try model(ids) }
        #expect(try closenessFailure(logits, reference.tensor("logits"), rtol: 0, atol: 1e-4) == nil)
        let prompt = try reference.tensor("greedy_prompt").toIntArray()
        let expected = try reference.tensor("greedy_tokens").toIntArray()
        let generated = try model.generate(prompt: prompt, maxNewTokens: expected.count, sampling: SamplingOptions(temperature: 0))
        #expect(Array(generated.dropFirst(prompt.count)) == expected)
        // Cached decoding in pieces equals one pass; a padded batch equals single prompts.
        let flat = try ids.toIntArray()
        try withNoGrad {
            let cache = try model.makeCache()
            let pieces = try [0..<6, 6..<7, 7..<20].map { range in
                try model.model(Tensor(integers: Array(flat[range]), shape: [1, range.count]), cache: cache, padding: nil)
            }
            let full = try model.model(Tensor(integers: Array(flat[0..<20]), shape: [1, 20]), cache: nil, padding: nil)
            #expect(try closenessFailure(Tensor.cat(pieces, axis: 1), full, rtol: 1e-5, atol: 1e-5) == nil)
        }
        let prompts = [Array(flat[0..<5]), Array(flat[10..<12])]
        let batch = try model.generate(prompts: prompts, maxNewTokens: 8, sampling: SamplingOptions(temperature: 0))
        for (prompt, continuation) in zip(prompts, batch) {
            #expect(continuation == Array(try model.generate(prompt: prompt, maxNewTokens: 8, sampling: SamplingOptions(temperature: 0)).dropFirst(prompt.count)))
        }
    }

    @Test func badCheckpointsNameTheirTensors() throws {
        let directory = temporaryDirectory("cortex-llama")
        let source = LlamaTests.root + "/llama-2layer"
        try FileManager.default.copyItem(atPath: source + "/config.json", toPath: directory + "/config.json")
        var tensors = try Safetensors.load(source + "/model.safetensors").tensors
        tensors["model.layers.1.mlp.up_proj.weight"] = nil
        tensors["model.layers.0.self_attn.k_proj.weight"] = try Tensor.zeros([64, 64])
        tensors["model.extra.weight"] = try Tensor.zeros([2])
        try Safetensors.save(tensors, to: directory + "/model.safetensors")
        expectCortexError(["model.layers.1.mlp.up_proj.weight is missing", "k_proj.weight is [64, 64], expected [32, 64]"]) {
            _ = try Llama.load(directory: directory)
        }
        tensors = try Safetensors.load(source + "/model.safetensors").tensors
        tensors["model.extra.weight"] = try Tensor.zeros([2])
        try Safetensors.save(tensors, to: directory + "/model.safetensors")
        #expect(throws: CortexError.self) { try Llama.load(directory: directory) }
    }

    /// A randomly initialised Llama trains: every parameter gets a gradient, and its cached
    /// decoding equals the full pass.
    @Test func randomModelTrainsAndDecodes() throws {
        let configuration = LlamaConfiguration(vocabularySize: 50, hiddenSize: 32, intermediateSize: 48, layers: 2, heads: 4, keyValueHeads: 2,
                                               contextLength: 16)
        let model = try Llama(configuration, generator: RandomGenerator(seed: 3))
        #expect(model.parameterCount() == 50 * 32 * 2 + 2 * (32 * 32 * 2 + 32 * 16 * 2 + 3 * 32 * 48 + 2 * 32) + 32)
        let ids = try Tensor(integers: (0..<12).map { $0 * 7 % 50 }, shape: [1, 12])
        let loss = try model.loss(ids.slice(axis: 1, start: 0, end: 11), targets: ids.slice(axis: 1, start: 1, end: 12))
        try loss.backward()
        #expect(model.parameters().allSatisfy { $0.grad != nil })
        try withNoGrad {
            let full = try model.model(ids, cache: nil, padding: nil)
            let cache = try model.makeCache()
            let pieces = try [0..<5, 5..<6, 6..<12].map { try model.model(ids.slice(axis: 1, start: $0.lowerBound, end: $0.upperBound), cache: cache, padding: nil) }
            #expect(try closenessFailure(Tensor.cat(pieces, axis: 1), full, rtol: 1e-5, atol: 1e-5) == nil)
        }
        #expect(throws: CortexError.self) { try Llama(LlamaConfiguration(vocabularySize: 50, hiddenSize: 30, intermediateSize: 48, layers: 1,
                                                                         heads: 4, contextLength: 16)) }
    }

    struct Reference: Decodable {
        struct TokenCase: Decodable { let text: String; let ids: [Int] }
        struct PromptCase: Decodable { let prompt: String; let ids: [Int]; let greedy: [Int]; let text: String }
        struct Chat: Decodable { let ids: [Int]; let greedy: [Int]; let text: String }
        let tokenizer: [TokenCase]
        let prompts: [PromptCase]
        let chat: Chat
    }

    static func smolLM2() throws -> (GGUF.File, Reference)? {
        guard let path = PretrainedModels.smolLM2 else {
            print("skipping SmolLM2 checks: " + PretrainedModels.missing("SmolLM2-135M-Instruct.Q4_1.gguf"))
            return nil
        }
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/smollm2.reference.json")))
        return (try GGUF.load(path), reference)
    }

    @Test func smolLM2TokenizerMatchesTransformers() throws {
        guard let (file, reference) = try LlamaTests.smolLM2() else { return }
        let tokenizer = try ByteLevelBPETokenizer.load(gguf: file)
        for item in reference.tokenizer {
            #expect(try tokenizer.encode(item.text) == item.ids, "\(item.text)")
            #expect(try tokenizer.decode(item.ids) == item.text)
        }
        for item in reference.prompts { #expect(try tokenizer.encode(item.prompt) == item.ids) }
        let template = try ChatTemplate(jinja: file.string("tokenizer.chat_template"))
        let chat = try template.render([.init(role: "user", content: "What is the capital of France?")])
        #expect(try tokenizer.encode(chat) == reference.chat.ids)
    }

    /// Logits within 5e-4 of transformers' (which runs the same dequantised weights in float32:
    /// only the order of float32 sums differs, blocked dot products against PyTorch's GEMM, over
    /// 30 layers; measured 4e-5), greedy continuations token for token, and the chat answer
    /// names Paris.
    /// (On the float path of quantised products: the integer path has its own test below.)
    @Test func smolLM2MatchesTransformers() throws {
        try QuantizedMatrix.$activations.withValue(.float) { try smolLM2FloatPathMatchesTransformers() }
    }

    /// The integer path (activations quantised to 8 bits per block of 32, as llama.cpp
    /// computes; the Q8_0 output projection stays float32) against the same transformers
    /// fixtures, whose float32 it cannot equal: each product is within 0.3-1.6% (relative RMS)
    /// of the float one, and over 30 layers that moves the logits by up to 0.66-0.77 (on logits
    /// of magnitude 10-25) and flips near-ties in greedy decoding, so the agreement moves with
    /// any change of float rounding elsewhere. Measured: greedy identical on 1-2 of the 5
    /// prompts, 80-115 of 158 tokens agreeing before each first divergence, and the chat
    /// answer (its prompt read on the float path, as longer than the matrix-vector kernel's
    /// rows) still names Paris. Bounds: logits within 1.0, 40% of tokens agreeing; the refined
    /// path (two 8-bit codes per activation) is within 0.01 of transformers.
    @Test func smolLM2IntegerPathAgreesWithTransformers() throws {
        guard let (file, reference) = try LlamaTests.smolLM2() else { return }
        try QuantizedMatrix.$activations.withValue(.integer) {
            let model = try Llama.load(gguf: file)
            let logits = try Safetensors.load(LlamaTests.root + "/smollm2.reference.safetensors")
            var largest: Float = 0
            var identical = 0, agreeing = 0, total = 0
            for (number, item) in reference.prompts.enumerated() {
                let cache = try model.makeCache()
                let last = try withNoGrad { try model.nextTokenLogits(Tensor(integers: item.ids, shape: [1, item.ids.count]), cache: cache, padding: nil) }
                let chosen = try last.reshape([-1]).indexSelect(axis: 0, indices: logits.tensor("prompt\(number).logit_ids"))
                largest = max(largest, try (chosen - logits.tensor("prompt\(number).logits")).abs().max().item())
                let generated = Array(try model.generate(prompt: item.ids, maxNewTokens: 32, sampling: SamplingOptions(temperature: 0), stopTokens: [2])
                    .dropFirst(item.ids.count))
                if generated == item.greedy { identical += 1 }
                agreeing += zip(generated, item.greedy).prefix { $0 == $1 }.count
                total += item.greedy.count
            }
            print("SmolLM2 integer path: largest logit difference from transformers \(largest); greedy identical on \(identical) of "
                  + "\(reference.prompts.count) prompts, \(agreeing) of \(total) tokens agree before the first divergence")
            #expect(largest < 1.0)
            #expect(Double(agreeing) >= 0.4 * Double(total))
            let answer = try model.generate(prompt: reference.chat.ids, maxNewTokens: 32, sampling: SamplingOptions(temperature: 0), stopTokens: [2])
            let text = try ByteLevelBPETokenizer.load(gguf: file).decode(Array(answer.dropFirst(reference.chat.ids.count)))
            #expect(text.contains("Paris"), "\(text)")
            try QuantizedMatrix.$activations.withValue(.refined) {
                for (number, item) in reference.prompts.enumerated() {
                    let cache = try model.makeCache()
                    let last = try withNoGrad { try model.nextTokenLogits(Tensor(integers: item.ids, shape: [1, item.ids.count]), cache: cache, padding: nil) }
                    let chosen = try last.reshape([-1]).indexSelect(axis: 0, indices: logits.tensor("prompt\(number).logit_ids"))
                    #expect(try closenessFailure(chosen, logits.tensor("prompt\(number).logits"), rtol: 0, atol: 0.01) == nil, "refined, \(item.prompt)")
                }
            }
        }
    }

    func smolLM2FloatPathMatchesTransformers() throws {
        guard let (file, reference) = try LlamaTests.smolLM2() else { return }
        let model = try Llama.load(gguf: file)
        let logits = try Safetensors.load(LlamaTests.root + "/smollm2.reference.safetensors")
        var largest: Float = 0
        for (number, item) in reference.prompts.enumerated() {
            let cache = try model.makeCache()
            let last = try withNoGrad { try model.nextTokenLogits(Tensor(integers: item.ids, shape: [1, item.ids.count]), cache: cache, padding: nil) }
            let chosen = try last.reshape([-1]).indexSelect(axis: 0, indices: logits.tensor("prompt\(number).logit_ids"))
            let expected = try logits.tensor("prompt\(number).logits")
            largest = max(largest, try (chosen - expected).abs().max().item())
            #expect(try closenessFailure(chosen, expected, rtol: 0, atol: 5e-4) == nil, "\(item.prompt)")
            let generated = try model.generate(prompt: item.ids, maxNewTokens: 32, sampling: SamplingOptions(temperature: 0), stopTokens: [2])
            #expect(Array(generated.dropFirst(item.ids.count)) == item.greedy, "\(item.prompt)")
        }
        print("SmolLM2 logits: largest difference from transformers \(largest)")
        let answer = try model.generate(prompt: reference.chat.ids, maxNewTokens: 32, sampling: SamplingOptions(temperature: 0), stopTokens: [2])
        let text = try ByteLevelBPETokenizer.load(gguf: file).decode(Array(answer.dropFirst(reference.chat.ids.count)))
        #expect(text == reference.chat.text)
        #expect(text.contains("Paris"))
    }
}
