import CCortexKernels
import CortexCore
import CortexText
import Foundation

/// Text in, text out, in the spirit of Hugging Face's `pipeline("text-generation")`: a causal
/// language model (GPT-2 or Llama family) and its tokenizer, prompts continued with the
/// sampling options given, and chat turns for instruction-tuned models.
///
/// ```swift
/// let generator = try TextGenerator.load("gpt2")          // a directory, a .gguf file, or a cache name
/// let text = try generator("I love programming", maxNewTokens: 30, sampling: SamplingOptions(temperature: 0))
/// let several = try generator(["Once upon a time", "The weather"], maxNewTokens: 20)
///
/// let chat = try TextGenerator.load("SmolLM2-135M-Instruct.Q4_1.gguf")
/// let answer = try chat.reply(to: "What is the capital of France?")   // "The capital of France is Paris."
/// ```
public final class TextGenerator: @unchecked Sendable {
    public let model: any CausalLanguageModel
    public let tokenizer: ByteLevelBPETokenizer
    /// Tokens that end a continuation (kept in it): by default the tokenizer's end-of-text.
    public let stopTokens: Set<Int>
    /// The prompt format of an instruction-tuned model, where the checkpoint declares one.
    public let chatTemplate: ChatTemplate?

    public init(model: any CausalLanguageModel, tokenizer: ByteLevelBPETokenizer, stopTokens: Set<Int>? = nil, chatTemplate: ChatTemplate? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.stopTokens = stopTokens ?? tokenizer.specialTokens["<|endoftext|>"].map { [$0] } ?? []
        self.chatTemplate = chatTemplate
    }

    /// Loads a GGUF file (Llama family), a checkpoint directory (config.json's model_type
    /// "gpt2", "llama" or "mistral", with model.safetensors and tokenizer files), a model name
    /// in the Hugging Face cache, or a short name of `PretrainedModels` ("smollm2").
    public static func load(_ nameOrPath: String) throws -> TextGenerator {
        let (path, isFile) = location(nameOrPath)
        if isFile { return try load(gguf: path) }
        let directory = try GPT.checkpointDirectory(path)
        let configPath = (directory as NSString).appendingPathComponent("config.json")
        guard let config = jsonObject(configPath) else {
            throw CortexError.invalidFile(path: configPath, reason: "missing or not a JSON object")
        }
        let modelType = config["model_type"] as? String ?? "gpt2"
        switch modelType {
        case "gpt2":
            return TextGenerator(model: try GPT.load(directory: directory), tokenizer: try ByteLevelBPETokenizer.load(directory: directory))
        case "llama", "mistral":
            let endOfSequence = (config["eos_token_id"] as? [Int]) ?? (config["eos_token_id"] as? Int).map { [$0] } ?? []
            let tokenizerConfig = jsonObject((directory as NSString).appendingPathComponent("tokenizer_config.json"))
            return chatModel(try Llama.load(directory: directory), tokenizer: try ByteLevelBPETokenizer.load(directory: directory),
                             endOfSequence: endOfSequence, template: tokenizerConfig.flatMap(ChatTemplate.source(tokenizerConfig:)))
        default:
            throw CortexError.invalidFile(path: configPath, reason: "model_type \"\(modelType)\" is not one Cortex generates with (gpt2, llama, mistral)")
        }
    }

    /// Where `nameOrPath` points: a `PretrainedModels` short name's file, else the path itself;
    /// `isFile` for a file (GGUF), false for a directory or a Hugging Face cache name.
    public static func location(_ nameOrPath: String) -> (path: String, isFile: Bool) {
        let path = PretrainedModels.path(named: nameOrPath) ?? nameOrPath
        var isDirectory: ObjCBool = false
        return (path, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue)
    }

    /// The JSON object in the file at `path`, or nil when it is missing or not an object.
    static func jsonObject(_ path: String) -> [String: Any]? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]
    }

    /// A Llama-family or GPT-2 GGUF file with the tokenizer, end-of-sequence token and chat
    /// template its metadata declares.
    public static func load(gguf path: String) throws -> TextGenerator {
        let generator = try {
            let file = try GGUF.load(path)
            if file.metadata["general.architecture"]?.string == "gpt2" {
                let tokenizer = try ByteLevelBPETokenizer.load(gguf: file)
                let stops = file.metadata["tokenizer.ggml.eos_token_id"]?.integer.map { Set([$0]) } ?? []
                return TextGenerator(model: try GPT.load(gguf: file), tokenizer: tokenizer, stopTokens: stops, chatTemplate: nil)
            }
            return chatModel(try Llama.load(gguf: file), tokenizer: try ByteLevelBPETokenizer.load(gguf: file),
                             endOfSequence: file.metadata["tokenizer.ggml.eos_token_id"]?.integer.map { [$0] } ?? [],
                             template: ChatTemplate.source(gguf: file))
        }()
        // The metadata (some 150,000 small strings) is gone now; hand its heap pages back.
        cortex_release_free_memory()
        return generator
    }

    /// A Llama-family generator: it stops at the end-of-sequence tokens and at the end of an
    /// assistant turn of its chat template (where it declares one that parses).
    static func chatModel(_ model: Llama, tokenizer: ByteLevelBPETokenizer, endOfSequence: [Int], template source: ChatTemplate.Source?) -> TextGenerator {
        let template = source.flatMap { try? ChatTemplate(jinja: $0.template, bosToken: $0.bosToken, eosToken: $0.eosToken) }
        var stops = Set(endOfSequence)
        if let marker = template?.endOfTurn, let end = tokenizer.specialTokens[marker] { stops.insert(end) }
        return TextGenerator(model: model, tokenizer: tokenizer, stopTokens: stops, chatTemplate: template)
    }

    /// The prompt followed by its continuation (as the pipeline's `generated_text`); `onText`
    /// receives the new text as it is produced; generation ends early at a stop token or when
    /// the new text contains one of `stop`.
    public func callAsFunction(_ prompt: String, maxNewTokens: Int = 50, sampling: SamplingOptions = SamplingOptions(),
                               stop: [String] = [], seed: UInt64 = 0, onText: (String) -> Void = { _ in }) throws -> String {
        prompt + (try continuation(of: try tokenizer.encode(prompt), maxNewTokens: maxNewTokens, sampling: sampling, stop: stop, seed: seed,
                                   onText: onText).text)
    }

    /// The new tokens and their text after `promptIds`, streamed to `onText` in whole
    /// characters; `onLogits` sees the model's logits for each new position.
    public func continuation(of promptIds: [Int], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(), stop: [String] = [],
                             seed: UInt64 = 0, onText: (String) -> Void = { _ in },
                             onLogits: ([Float]) -> Void = { _ in }) throws -> (tokens: [Int], text: String) {
        guard promptIds.count < model.contextLength else {
            throw CortexError.invalidArgument(operation: "TextGenerator",
                                              reason: "the prompt has \(promptIds.count) tokens; the context holds \(model.contextLength)")
        }
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
                                   if let text = try? visibleText(produced), !text.hasSuffix("\u{FFFD}"), text.count > emitted {
                                       onText(String(text.dropFirst(emitted)))
                                       emitted = text.count
                                   }
                               },
                               onLogits: onLogits)
        return (produced, try visibleText(produced))
    }

    /// Decoded text without a final stop token (`<|im_end|>` is not part of the answer).
    func visibleText(_ tokens: [Int]) throws -> String {
        try tokenizer.decode(tokens.last.map { stopTokens.contains($0) } == true ? Array(tokens.dropLast()) : tokens)
    }

    /// Several prompts at once (one padded batch); each result is prompt + continuation.
    public func callAsFunction(_ prompts: [String], maxNewTokens: Int = 50, sampling: SamplingOptions = SamplingOptions(),
                               seed: UInt64 = 0) throws -> [String] {
        let continuations = try model.generate(prompts: prompts.map { try tokenizer.encode($0) }, maxNewTokens: maxNewTokens,
                                               sampling: sampling, stopTokens: stopTokens, generator: RandomGenerator(seed: seed))
        return try zip(prompts, continuations).map { $0 + (try visibleText($1)) }
    }

    /// The chat prompt for one user message (after an optional system message), in the
    /// model's template.
    public func chatPrompt(_ message: String, system: String? = nil) throws -> String {
        guard let chatTemplate else {
            throw CortexError.invalidArgument(operation: "TextGenerator.chat", reason: "this model declares no chat template")
        }
        var messages: [ChatTemplate.Message] = []
        if let system { messages.append(.init(role: "system", content: system)) }
        messages.append(.init(role: "user", content: message))
        return try chatTemplate.render(messages)
    }

    /// The assistant's reply to one user message (greedy unless `sampling` says otherwise).
    public func reply(to message: String, system: String? = nil, maxNewTokens: Int = 256,
                      sampling: SamplingOptions = SamplingOptions(temperature: 0), seed: UInt64 = 0,
                      onText: (String) -> Void = { _ in }) throws -> String {
        try continuation(of: tokenizer.encode(chatPrompt(message, system: system)), maxNewTokens: maxNewTokens, sampling: sampling,
                         seed: seed, onText: onText).text
    }
}
