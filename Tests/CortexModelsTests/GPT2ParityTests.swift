import Foundation
import Testing
import CortexCore
import CortexNN
@testable import CortexModels
import CortexTestSupport

/// GPT-2 against Hugging Face transformers on randomly initialised checkpoints written by
/// Tools/make_gpt2_fixtures.py (one stored in float16): logits, greedy generation, the loss and
/// every gradient after one step, and a 10-step AdamW loss table.
@Suite struct GPT2ParityTests {
    static let names = ["gpt2-4layer", "gpt2-2layer-f16"]

    static func fixture(_ name: String) -> (directory: String, reference: Safetensors.File) {
        let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path
        return (root + "/" + name, try! Safetensors.load(root + "/\(name).reference.safetensors"))
    }

    @Test(arguments: names)
    func logitsAndGreedyGenerationMatch(_ name: String) throws {
        let (directory, reference) = GPT2ParityTests.fixture(name)
        let model = try GPT.load(directory: directory)
        model.eval()
        let logits = try withNoGrad { try model(reference.tensor("ids")) }
        let failure = try closenessFailure(logits, reference.tensor("logits"), rtol: 0, atol: 1e-4)
        #expect(failure == nil, "\(name) logits: \(failure ?? "")")
        let prompt = try reference.tensor("greedy_prompt").toIntArray()
        let expected = try reference.tensor("greedy_tokens").toIntArray()
        let generated = try model.generate(prompt: prompt, maxNewTokens: expected.count, sampling: SamplingOptions(temperature: 0))
        #expect(Array(generated.dropFirst(prompt.count)) == expected)
    }

    /// Logits computed through the key/value cache, several new positions at a time, equal
    /// those of one full forward pass.
    @Test func cachedDecodingMatchesTheFullPass() throws {
        let (directory, reference) = GPT2ParityTests.fixture("gpt2-4layer")
        let model = try GPT.load(directory: directory)
        model.eval()
        let ids = try reference.tensor("ids").toIntArray()
        try withNoGrad {
            let full = try model(Tensor(integers: Array(ids[0..<12]), shape: [1, 12]))
            let cache = try model.makeCache()
            var pieces: [Tensor] = []
            for range in [0..<5, 5..<8, 8..<9, 9..<12] {
                pieces.append(try model(Tensor(integers: Array(ids[range]), shape: [1, range.count]), cache: cache))
            }
            #expect(cache.length == 12)
            #expect(try closenessFailure(Tensor.cat(pieces, axis: 1), full, rtol: 1e-5, atol: 1e-5) == nil)
            #expect(throws: CortexError.self) { try model(Tensor(integers: Array(repeating: 0, count: 53), shape: [1, 53]), cache: cache) }
        }
    }

    /// Prompts of different lengths generated as one left-padded batch give exactly what each
    /// gives alone (padding takes no position and is never attended to).
    @Test func paddedBatchesGenerateAsSinglePrompts() throws {
        let (directory, reference) = GPT2ParityTests.fixture("gpt2-4layer")
        let model = try GPT.load(directory: directory)
        let ids = try reference.tensor("ids").toIntArray()
        let prompts = [Array(ids[0..<7]), Array(ids[12..<15]), [ids[20]]]
        let batch = try model.generate(prompts: prompts, maxNewTokens: 12, sampling: SamplingOptions(temperature: 0))
        for (prompt, continuation) in zip(prompts, batch) {
            let alone = try model.generate(prompt: prompt, maxNewTokens: 12, sampling: SamplingOptions(temperature: 0))
            #expect(continuation == Array(alone.dropFirst(prompt.count)))
        }
        let stop = batch[1][2]
        let stopped = try model.generate(prompts: prompts, maxNewTokens: 12, sampling: SamplingOptions(temperature: 0), stopTokens: [stop])
        #expect(stopped[1] == Array(batch[1].prefix(through: batch[1].firstIndex(of: stop)!)))
        #expect(throws: CortexError.self) { try model.generate(prompts: prompts, maxNewTokens: 60) }
        #expect(throws: CortexError.self) { try model.generate(prompts: [[0], []], maxNewTokens: 2) }
        #expect(throws: CortexError.self) { try model.generate(prompt: [400], maxNewTokens: 2) }
        #expect(throws: CortexError.self) { try model.generate(prompt: [1], maxNewTokens: 2, sampling: SamplingOptions(topP: 0)) }
        #expect(throws: CortexError.self) { try model.generate(prompt: [1], maxNewTokens: 2, sampling: SamplingOptions(repetitionPenalty: -1)) }
    }

    @Test(arguments: names)
    func lossGradientsAndAdamWStepsMatch(_ name: String) throws {
        let (directory, reference) = GPT2ParityTests.fixture(name)
        let model = try GPT.load(directory: directory)
        let ids = try reference.tensor("ids"), targets = try reference.tensor("targets")
        let loss = try model.loss(ids, targets: targets)
        #expect(Swift.abs(try loss.item() - reference.tensor("loss").toFloatArray()[0]) < 1e-4)
        try loss.backward()
        for (key, parameter) in model.namedParameters() {
            let failure = try closenessFailure(parameter.grad!, reference.tensor("grad.\(key)"), rtol: 1e-3, atol: 1e-5)
            #expect(failure == nil, "\(name) gradient of \(key): \(failure ?? "")")
        }
        let fresh = try GPT.load(directory: directory)
        let optimizer = AdamW(fresh.parameters(), learningRate: 1e-3, weightDecay: 0.01)
        var losses: [Float] = []
        for _ in 0..<10 {
            optimizer.zeroGrad()
            let stepLoss = try fresh.loss(ids, targets: targets)
            losses.append(try stepLoss.item())
            try stepLoss.backward()
            try optimizer.step()
        }
        let expected = try reference.tensor("losses").toFloatArray()
        for (step, (actual, wanted)) in zip(losses, expected).enumerated() {
            #expect(Swift.abs(actual - wanted) < 1e-3, "\(name) step \(step): \(actual) vs \(wanted)")
        }
    }

    @Test func mismatchedCheckpointsNameEveryProblem() throws {
        let (directory, _) = GPT2ParityTests.fixture("gpt2-4layer")
        let folder = temporaryDirectory("cortex-gpt2")
        // A config that disagrees with the tensors: 3 layers of width 32.
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/config.json"))) as! [String: Any]
        config["n_layer"] = 3
        config["n_embd"] = 32
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        try FileManager.default.copyItem(atPath: directory + "/model.safetensors", toPath: folder + "/model.safetensors")
        do {
            _ = try GPT.load(directory: folder)
            Issue.record("a mismatched config must fail")
        } catch let error as CortexError {
            let message = error.description
            #expect(message.contains("transformer.h.3.ln_1.weight") && message.contains("transformer.wte.weight has shape [300, 64]"), "\(message)")
        }
        // A truncated weights file with the right config.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/model.safetensors"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: folder + "/model.safetensors"))
        try Data(contentsOf: URL(fileURLWithPath: directory + "/config.json")).write(to: URL(fileURLWithPath: folder + "/config.json"))
        #expect(throws: CortexError.self) { try GPT.load(directory: folder) }
        config["n_head"] = 5
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        #expect(throws: CortexError.self) { try GPT.load(directory: folder) }
        #expect(throws: CortexError.self) { try GPT.cachedDirectory(name: "gpt2", environment: ["HF_HOME": folder]) }
    }

    @Test func savedCheckpointsLoadBack() throws {
        let (directory, reference) = GPT2ParityTests.fixture("gpt2-2layer-f16")
        let model = try GPT.load(directory: directory)
        let folder = NSTemporaryDirectory() + "cortex-gpt2-saved-\(UUID().uuidString)"
        try model.saveCheckpoint(directory: folder)
        let again = try GPT.load(directory: folder)
        let ids = try reference.tensor("ids")
        #expect(try closenessFailure(withNoGrad { try again(ids) }, withNoGrad { try model(ids) }, rtol: 0, atol: 0) == nil)
        // By name from a Hugging Face cache layout.
        let hub = folder + "/hf/hub/models--openai-community--gpt2-tiny"
        try FileManager.default.createDirectory(atPath: hub + "/snapshots/abc123", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: hub + "/refs", withIntermediateDirectories: true)
        try "abc123".write(toFile: hub + "/refs/main", atomically: true, encoding: .utf8)
        #expect(try GPT.cachedDirectory(name: "openai-community/gpt2-tiny", environment: ["HF_HOME": folder + "/hf"]) == hub + "/snapshots/abc123")
    }
}
