import ArgumentParser
import CortexCore
import CortexModels
import CortexText
import Foundation

/// `cortex sample`: text from a character-level GPT checkpoint written by `cortex train char-gpt`.
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a char-gpt checkpoint.")

    @Option(help: "Checkpoint directory (model.safetensors, config.json, characters.json).") var checkpoint: String
    @Option(help: "Text to continue.") var prompt = "\n"
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0.8
    @Option(name: .customLong("top-k"), help: "Sample among the k most likely characters (0: all).") var topK = 40
    @Option(name: .customLong("max-new-tokens"), help: "Characters to generate.") var maxNewTokens = 500
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0

    func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 or more, got \(temperature)") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more, got \(topK)") }
        guard maxNewTokens >= 0 else { throw ValidationError("--max-new-tokens must be 0 or more, got \(maxNewTokens)") }
    }

    func run() throws {
        let (model, tokenizer) = try Sample.load(checkpoint)
        let promptIds = try tokenizer.encode(prompt)
        print(prompt, terminator: "")
        _ = try model.generate(prompt: promptIds, maxNewTokens: maxNewTokens,
                               sampling: SamplingOptions(temperature: temperature, topK: topK == 0 ? nil : topK),
                               generator: RandomGenerator(seed: seed), onToken: { token in
            print((try? tokenizer.decode([token])) ?? "", terminator: "")
            fflush(nil)
        })
        print()
    }

    static func load(_ directory: String) throws -> (GPT, CharacterTokenizer) {
        let model = try GPT.load(directory: directory)
        let tokenizer = try CharacterTokenizer.load(from: directory + "/characters.json")
        guard tokenizer.vocabularySize == model.configuration.vocabularySize else {
            throw CortexError.invalidFile(path: directory + "/characters.json",
                                          reason: "\(tokenizer.vocabularySize) characters for a model of \(model.configuration.vocabularySize)")
        }
        return (model, tokenizer)
    }
}
