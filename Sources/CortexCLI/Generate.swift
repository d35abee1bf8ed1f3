import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import CortexText
import Foundation

/// `cortex generate`: continues a prompt, or answers it as a chat message (`--chat`), with a
/// GPT-2 or Llama-family model (a checkpoint directory, a GGUF file, or a model name in the
/// Hugging Face cache), streaming the text as it is produced.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt (or answer it with --chat) with a GPT-2 or Llama-family model.",
        discussion: """
            --model is a .gguf file (Llama family, e.g. SmolLM2-135M-Instruct.Q4_1.gguf), a directory with config.json, \
            model.safetensors and tokenizer files (GPT-2, Llama, Mistral), a model name in the Hugging Face cache (HF_HOME), \
            or smollm2 (the fetched SmolLM2-135M-Instruct).
            """)

    @Option(help: "GGUF file, checkpoint directory, or model name.") var model: String
    @Option(help: "Tokenizer directory (default: the model's).") var tokenizer: String?
    @Option(help: "A LoRA adapter directory (adapter_config.json + adapter_model.safetensors, Cortex's or PEFT's) applied to the model.")
    var adapter: String?
    @Option(help: "Text to continue, or with --chat the user's message.") var prompt: String
    @Flag(help: "Wrap the prompt in the model's chat template and stop at the end of the assistant's turn.") var chat = false
    @Option(help: "With --chat, a system message (default: the template's own).") var system: String?
    @Option(name: .customLong("max-new-tokens"), help: "Tokens to generate at most.") var maxNewTokens = 50
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 1
    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens (0: all).") var topK = 50
    @Option(name: .customLong("top-p"), help: "Sample among the most likely tokens holding this probability.") var topP: Float = 1
    @Option(name: .customLong("repetition-penalty"), help: "Penalty for tokens already present (1: none).") var repetitionPenalty: Float = 1
    @Option(name: .customLong("stop"), help: "Stop when the text produced contains this string (repeatable).") var stopStrings: [String] = []
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0
    @OptionGroup var quantized: QuantizedActivationsOption
    @Flag(help: "Print one JSON object: prompt_tokens, tokens (the new ids) and text.") var json = false
    @Flag(help: "With --json, add logprobs: each new token's log-probability under the model's raw logits.") var logprobs = false

    var sampling: SamplingOptions {
        SamplingOptions(temperature: temperature, topK: topK == 0 ? nil : topK, topP: topP >= 1 ? nil : topP, repetitionPenalty: repetitionPenalty)
    }

    func validate() throws {
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        do { try sampling.validate() } catch let error as CortexError { throw ValidationError(error.description) }
        guard maxNewTokens >= 0 else { throw ValidationError("--max-new-tokens must be 0 or more, got \(maxNewTokens)") }
        try quantized.validate()
    }

    func run() throws {
        try QuantizedMatrix.$activations.withValue(quantized.mode) { try generate() }
    }

    func generate() throws {
        var generator = try TextGenerator.load(model)
        if let adapter { _ = try LoRAAdapter.load(directory: adapter, into: generator.model) }
        if let tokenizer {
            generator = TextGenerator(model: generator.model, tokenizer: try ByteLevelBPETokenizer.load(directory: tokenizer),
                                      chatTemplate: generator.chatTemplate)
        }
        let text = chat ? try generator.chatPrompt(prompt, system: system) : prompt
        let promptIds = try generator.tokenizer.encode(text)
        if let outside = promptIds.first(where: { $0 >= generator.model.vocabularySize }) {
            throw CortexError.invalidArgument(operation: "cortex generate",
                                              reason: "token \(outside) of the tokenizer is outside the model's vocabulary of \(generator.model.vocabularySize)")
        }
        if !json && !chat {
            print(prompt, terminator: "")
            fflush(nil)
        }
        var stepLogits: [[Float]] = []
        // FLOPs (counted by the ops), tokens/s, MFU and energy of the prompt and the decode.
        let meter = ComputeMeter(unit: "tokens")
        let (tokens, produced) = try generator.continuation(
            of: promptIds, maxNewTokens: maxNewTokens, sampling: sampling, stop: stopStrings, seed: seed,
            onText: { piece in
                if !json {
                    print(piece, terminator: "")
                    fflush(nil)
                }
            },
            onLogits: { logits in if logprobs { stepLogits.append(logits) } })
        let compute = meter.finish(examples: promptIds.count + tokens.count)
        if json {
            var object: [String: Any] = ["prompt_tokens": promptIds, "tokens": tokens, "text": produced]
            object["compute"] = Dictionary(uniqueKeysWithValues: compute.fields.map { ($0.0, $0.1) })
                .merging(["tokens_per_sec": compute.examplesPerSecond]) { first, _ in first }
            if logprobs {
                object["logprobs"] = zip(stepLogits, tokens).map { logits, token in
                    let maximum = Double(logits.max()!)
                    return Double(logits[token]) - maximum - Foundation.log(logits.reduce(0) { $0 + Foundation.exp(Double($1) - maximum) })
                }
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print()
            FileHandle.standardError.write(Data((compute.summary + "\n").utf8))
        }
    }
}

/// `--activations integer|refined|float`: how products with quantised (GGUF) weights treat the
/// activations (``QuantizedMatrix/Activations``).
struct QuantizedActivationsOption: ParsableArguments {
    @Option(help: "With GGUF weights: integer (8-bit codes, as llama.cpp), refined (two 8-bit codes, float accuracy, slower) or float (exact float32). Default: CORTEX_QUANT_ACTIVATIONS, else integer.")
    var activations: String?

    var mode: QuantizedMatrix.Activations { activations.flatMap(QuantizedMatrix.Activations.init(rawValue:)) ?? QuantizedMatrix.activations }

    func validate() throws {
        if let activations, QuantizedMatrix.Activations(rawValue: activations) == nil {
            throw ValidationError("--activations must be integer, refined or float, got \(activations)")
        }
    }
}
