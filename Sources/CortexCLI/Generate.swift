import ArgumentParser
import CortexCore
import CortexModels
import CortexText
import Foundation

/// `cortex generate`: continues a prompt with a GPT-2 checkpoint (a Hugging Face directory or a
/// model name in the Hugging Face cache), streaming the text as it is produced.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt with a GPT-2 checkpoint.",
        discussion: "--model is a directory with config.json, model.safetensors and the tokenizer files, or a model name in the Hugging Face cache (HF_HOME).")

    @Option(help: "Checkpoint directory or Hugging Face model name.") var model: String
    @Option(help: "Tokenizer directory (default: the model's).") var tokenizer: String?
    @Option(help: "Text to continue.") var prompt: String
    @Option(name: .customLong("max-new-tokens"), help: "Tokens to generate at most.") var maxNewTokens = 50
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 1
    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens (0: all).") var topK = 50
    @Option(name: .customLong("top-p"), help: "Sample among the most likely tokens holding this probability.") var topP: Float = 1
    @Option(name: .customLong("repetition-penalty"), help: "Penalty for tokens already present (1: none).") var repetitionPenalty: Float = 1
    @Option(name: .customLong("stop"), help: "Stop when the text produced contains this string (repeatable).") var stopStrings: [String] = []
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0
    @Flag(help: "Print one JSON object: prompt_tokens, tokens (the new ids) and text.") var json = false
    @Flag(help: "With --json, add logprobs: each new token's log-probability under the model's raw logits.") var logprobs = false

    var sampling: SamplingOptions {
        SamplingOptions(temperature: temperature, topK: topK == 0 ? nil : topK, topP: topP >= 1 ? nil : topP, repetitionPenalty: repetitionPenalty)
    }

    func validate() throws {
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        do { try sampling.validate() } catch let error as CortexError { throw ValidationError(error.description) }
        guard maxNewTokens >= 0 else { throw ValidationError("--max-new-tokens must be 0 or more, got \(maxNewTokens)") }
    }

    func run() throws {
        do {
            let directory = try GPT.checkpointDirectory(model)
            let network = try GPT.load(directory: directory)
            let bpe = try ByteLevelBPETokenizer.load(directory: tokenizer ?? directory)
            let promptIds = try bpe.encode(prompt)
            guard promptIds.count < network.configuration.contextLength else {
                throw CortexError.invalidArgument(operation: "cortex generate",
                                                  reason: "the prompt has \(promptIds.count) tokens; the context holds \(network.configuration.contextLength)")
            }
            var produced: [Int] = []
            var stepLogits: [[Float]] = []
            let endOfText = bpe.specialTokens["<|endoftext|>"].map { Set([$0]) } ?? []
            if !json {
                print(prompt, terminator: "")
                fflush(nil)
            }
            _ = try network.generate(prompt: promptIds, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: endOfText,
                                     generator: RandomGenerator(seed: seed),
                                     shouldStop: { _ in
                                         guard !stopStrings.isEmpty, let text = try? bpe.decode(produced) else { return false }
                                         return stopStrings.contains { text.contains($0) }
                                     },
                                     onToken: { token in
                                         produced.append(token)
                                         if !json, let piece = try? bpe.decodeBytes([token]) {
                                             FileHandle.standardOutput.write(Data(piece))
                                         }
                                     },
                                     onLogits: { logits in if logprobs { stepLogits.append(logits) } })
            let text = try bpe.decode(produced)
            if json {
                var object: [String: Any] = ["prompt_tokens": promptIds, "tokens": produced, "text": text]
                if logprobs {
                    object["logprobs"] = zip(stepLogits, produced).map { logits, token in
                        let maximum = Double(logits.max()!)
                        return Double(logits[token]) - maximum - Foundation.log(logits.reduce(0) { $0 + Foundation.exp(Double($1) - maximum) })
                    }
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print()
            }
        } catch let error as CortexError {
            throw ValidationError(error.description)
        }
    }
}
