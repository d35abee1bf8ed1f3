import CortexCore
import CortexText
import Foundation

/// Text in, text out, in the spirit of Hugging Face's `pipeline("text-generation")`: a GPT-2
/// checkpoint and its tokenizer, prompts continued with the sampling options given.
///
/// ```swift
/// let generator = try TextGenerator.load("gpt2")          // a directory or a Hugging Face cache name
/// let text = try generator("I love programming", maxNewTokens: 30, sampling: SamplingOptions(temperature: 0))
/// let several = try generator(["Once upon a time", "The weather"], maxNewTokens: 20)
/// ```
public final class TextGenerator: @unchecked Sendable {
    public let model: any CausalLanguageModel
    public let tokenizer: ByteLevelBPETokenizer
    /// Tokens that end a continuation (kept in it): by default the tokenizer's end-of-text.
    public let stopTokens: Set<Int>

    public init(model: any CausalLanguageModel, tokenizer: ByteLevelBPETokenizer, stopTokens: Set<Int>? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.stopTokens = stopTokens ?? tokenizer.specialTokens["<|endoftext|>"].map { [$0] } ?? []
    }

    /// Loads a checkpoint directory (config.json, model.safetensors, tokenizer files) or a
    /// model name from the Hugging Face cache.
    public static func load(_ nameOrDirectory: String) throws -> TextGenerator {
        let directory = try GPT.checkpointDirectory(nameOrDirectory)
        return TextGenerator(model: try GPT.load(directory: directory), tokenizer: try ByteLevelBPETokenizer.load(directory: directory))
    }

    /// The prompt followed by its continuation (as the pipeline's `generated_text`); `onText`
    /// receives the new text as it is produced; generation ends early at end-of-text or when
    /// the new text contains one of `stop`.
    public func callAsFunction(_ prompt: String, maxNewTokens: Int = 50, sampling: SamplingOptions = SamplingOptions(),
                               stop: [String] = [], seed: UInt64 = 0, onText: (String) -> Void = { _ in }) throws -> String {
        let promptIds = try tokenizer.encode(prompt)
        var produced: [Int] = []
        var emitted = 0
        _ = try model.generate(prompt: promptIds, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: stopTokens,
                               generator: RandomGenerator(seed: seed),
                               shouldStop: { _ in
                                   guard !stop.isEmpty, let text = try? self.tokenizer.decode(produced) else { return false }
                                   return stop.contains { text.contains($0) }
                               },
                               onToken: { token in
                                   produced.append(token)
                                   // Whole characters only: a token may end inside a UTF-8 sequence.
                                   if let text = try? tokenizer.decode(produced), !text.hasSuffix("\u{FFFD}") {
                                       onText(String(text.dropFirst(emitted)))
                                       emitted = text.count
                                   }
                               })
        return prompt + (try tokenizer.decode(produced))
    }

    /// Several prompts at once (one padded batch); each result is prompt + continuation.
    public func callAsFunction(_ prompts: [String], maxNewTokens: Int = 50, sampling: SamplingOptions = SamplingOptions(),
                               seed: UInt64 = 0) throws -> [String] {
        let continuations = try model.generate(prompts: prompts.map { try tokenizer.encode($0) }, maxNewTokens: maxNewTokens,
                                               sampling: sampling, stopTokens: stopTokens, generator: RandomGenerator(seed: seed))
        return try zip(prompts, continuations).map { $0 + (try tokenizer.decode($1)) }
    }
}
