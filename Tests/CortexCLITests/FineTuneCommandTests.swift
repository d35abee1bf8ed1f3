import Foundation
import Testing
import CortexCore
import CortexModels
import CortexNN
import CortexText
import CortexTestSupport
@testable import CortexCLI

/// `cortex finetune`, `generate --adapter` and `merge` on the 4-layer random GPT-2 fixture.
extension CommandLineTests {
    @Test func fineTuneGenerateAndMergeAnAdapter() throws {
        let model = try makeGPT2Directory()
        let adapterDirectory = directory + "/lora"
        var command = try CortexCommand.parseAsRoot(["finetune", "--model", model, "--text", directory + "/tinyshakespeare/input.txt",
                                                     "--targets", "c_attn,c_fc", "--lora-rank", "4", "--lora-alpha", "8", "--iterations", "4",
                                                     "--batch-size", "2", "--context", "16", "--eval-tokens", "64", "--lr", "1e-2",
                                                     "--out", adapterDirectory, "--json"])
        try command.run()
        for file in ["adapter_model.safetensors", "adapter_config.json", "finetune.json"] {
            #expect(FileManager.default.fileExists(atPath: adapterDirectory + "/" + file), "\(file)")
        }
        let report = try JSONDecoder().decode(FineTune.Report.self, from: Data(contentsOf: URL(fileURLWithPath: adapterDirectory + "/finetune.json")))
        // c_attn (64 -> 192) and c_fc (64 -> 256) in 4 blocks, r = 4: r (in + out) each.
        #expect(report.trainableParameters == 4 * (4 * (64 + 192) + 4 * (64 + 256)))
        #expect(report.steps == 4 && report.trainedTokens == 4 * 2 * 16)
        #expect(report.trainablePercent > 0 && report.trainablePercent < 100 && report.peakMemoryMegabytes > 0)
        #expect(report.heldOutPerplexityBefore != nil && report.heldOutPerplexityAfter != nil)

        // generate --adapter runs the adapted model.
        var generate = try CortexCommand.parseAsRoot(["generate", "--model", model, "--adapter", adapterDirectory, "--prompt", "First",
                                                      "--max-new-tokens", "4", "--temperature", "0"])
        try generate.run()

        // merge writes a GGUF file that computes what base + adapter computes.
        let merged = directory + "/merged.gguf"
        var merge = try CortexCommand.parseAsRoot(["merge", "--model", model, "--adapter", adapterDirectory, "--out", merged])
        try merge.run()
        let adapted = try TextGenerator.load(model)
        _ = try LoRAAdapter.load(directory: adapterDirectory, into: adapted.model)
        adapted.model.eval()
        let prompt = try adapted.tokenizer.encode("First Citizen: speak")
        let ids = try Tensor(integers: prompt, shape: [1, prompt.count])
        let expected = try withNoGrad { try adapted.model(ids) }
        let file = try withNoGrad { try TextGenerator.load(gguf: merged).model(ids) }
        #expect(try closenessFailure(file, expected, rtol: 1e-4, atol: 1e-4) == nil)

        expectFailure(["finetune", "--model", model, "--text", directory + "/tinyshakespeare/input.txt", "--targets", "q_proj", "--out", directory + "/x"],
                      mentions: ["\"q_proj\" matches no layer", "c_attn"])
        expectFailure(["finetune", "--model", model, "--text", directory + "/tinyshakespeare/input.txt", "--lora-rank", "0", "--out", directory + "/x"],
                      mentions: ["--lora-rank", "0"])
        expectFailure(["finetune", "--model", model, "--out", directory + "/x"], mentions: ["--text", "--chat-jsonl"])
        expectFailure(["finetune", "--model", model, "--chat-jsonl", directory + "/chat.jsonl", "--targets", "c_attn", "--out", directory + "/x"],
                      mentions: ["chat template"])
        expectFailure(["merge", "--model", model, "--adapter", directory + "/no-adapter", "--out", directory + "/m.gguf"],
                      mentions: [directory + "/no-adapter/adapter_config.json"])
    }

    @Test func chatLinesAreReadAndMaskedToTheAssistant() throws {
        let path = directory + "/chat.jsonl"
        let lines = [
            #"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}"#,
            "",
            #"{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "and 3+3?"}, {"role": "assistant", "content": "6"}]}"#,
        ]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let conversations = try ChatConversations.readJSONLines(path)
        #expect(conversations.count == 2 && conversations[1].count == 4)
        // Train a byte-level tokenizer that knows ChatML's markers, then check the mask.
        let corpus = String(repeating: lines.joined(separator: " "), count: 4)
        let tokenizer = try BPETrainer.train(corpus: corpus, vocabularySize: 300, specialTokens: ["<|im_start|>", "<|im_end|>"], minimumFrequency: 1)
        let template = ChatTemplate(style: .chatML(defaultSystem: nil))
        let (ids, targets) = try template.trainingExample(conversations[1], tokenizer: tokenizer)
        #expect(ids.count == targets.count)
        let learned = zip(ids.dropFirst(), targets).filter { $0.1 >= 0 }
        #expect(learned.allSatisfy { $0.0 == $0.1 })
        // What is learned decodes to the two answers with their end-of-turn markers, nothing else.
        let text = try tokenizer.decode(targets.filter { $0 >= 0 })
        #expect(text == "4<|im_end|>\n6<|im_end|>\n", "\(text)")

        try (lines[0] + "\n{\"messages\": [{\"role\": \"user\"}]}\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try ChatConversations.readJSONLines(path) } throws: { "\($0)".contains("line 2") }
        try "{\"messages\": [{\"role\": \"user\", \"content\": \"no answer\"}]}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try ChatConversations.readJSONLines(path) } throws: { "\($0)".contains("line 1 has no assistant message") }
        try "not json\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try ChatConversations.readJSONLines(path) } throws: { "\($0)".contains("line 1 is not") }
    }
}
