import CortexCore
import Foundation

extension ByteLevelBPETokenizer {
    /// The tokenizer a GGUF file carries in its metadata (`tokenizer.ggml.*`): a byte-level
    /// BPE ("gpt2" model) with its tokens, merges, and control tokens (`<|im_start|>`, ...)
    /// as special tokens.
    ///
    /// ```swift
    /// let file = try GGUF.load("SmolLM2-135M-Instruct.Q4_1.gguf")
    /// let tokenizer = try ByteLevelBPETokenizer.load(gguf: file)
    /// ```
    public static func load(gguf file: GGUF.File) throws -> ByteLevelBPETokenizer {
        let model = try file.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw CortexError.invalidFile(path: file.path, reason: "tokenizer model \"\(model)\" is not supported (byte-level BPE, \"gpt2\", is)")
        }
        let tokens = try file.strings("tokenizer.ggml.tokens")
        let merges = try file.strings("tokenizer.ggml.merges").enumerated().map { index, merge -> (String, String) in
            guard let rule = mergeRule(Substring(merge)) else {
                throw CortexError.invalidFile(path: file.path, reason: "merge \(index + 1) \"\(merge)\" is not \"a b\"")
            }
            return rule
        }
        // Token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
        let types = file.metadata["tokenizer.ggml.token_type"] == nil ? [] : try file.integers("tokenizer.ggml.token_type")
        guard types.isEmpty || types.count == tokens.count else {
            throw CortexError.invalidFile(path: file.path, reason: "\(types.count) token types for \(tokens.count) tokens")
        }
        var vocabulary: [String: Int] = [:], specials: [String: Int] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            if !types.isEmpty && (types[id] == 3 || types[id] == 4) {
                specials[token] = id
            } else if vocabulary[token] == nil {
                vocabulary[token] = id
            }
        }
        // tokenizer.ggml.pre names the pre-tokenizer (llama.cpp's names for the models'
        // tokenizer.json definitions): Llama 3's pattern for "llama-bpe"; the same with each
        // digit its own piece for Qwen 2 (its \p{N} in place of \p{N}{1,3}); GPT-2's pattern
        // behind a split of every digit (\p{N}) for StarCoder, Refact and Command R, and of
        // every run of digits (\p{N}+) for DeepSeek's (whose other splits GPT-2's matches on
        // llama.cpp's suite); Falcon's sequence (punctuation runs, GPT-2's pattern, then numeric
        // runs and digit triples on the mapped bytes); GPT-2's alone for GPT-2, SmolLM and MPT,
        // and for files that name none ("default", or no key). Any other name is refused, never guessed.
        let pre = file.metadata["tokenizer.ggml.pre"]?.string ?? "default"
        let preTokenization: PreTokenization
        switch pre {
        case "default", "gpt-2", "gpt2", "smollm", "mpt": preTokenization = .gpt2
        case "llama-bpe", "llama3", "smaug-bpe": preTokenization = .llama3
        case "qwen2", "qwen35": preTokenization = PreTokenization(pattern: .llama3, isolateDigits: true)
        case "starcoder", "refact", "command-r": preTokenization = PreTokenization(pattern: .gpt2, isolateDigits: true)
        case "deepseek-llm", "deepseek-coder": preTokenization = PreTokenization(pattern: .gpt2, isolateDigitRuns: true)
        case "falcon": preTokenization = .falcon
        default:
            throw CortexError.invalidFile(path: file.path, reason: "tokenizer.ggml.pre \"\(pre)\" names a pre-tokenizer Cortex does not implement "
                                          + "(it does default, gpt-2, smollm, mpt, llama-bpe, smaug-bpe, qwen2, qwen35, starcoder, refact, command-r, "
                                          + "deepseek-llm, deepseek-coder and falcon)")
        }
        // Llama 3's tokenizer takes a piece that is a token whole (ignore_merges), as llama.cpp does for it.
        return try ByteLevelBPETokenizer(vocabulary: vocabulary, merges: merges, specialTokens: specials, preTokenization: preTokenization,
                                         ignoresMerges: preTokenization == .llama3, source: file.path)
    }
}

/// A chat model's prompt format: its own Jinja template (`tokenizer.chat_template` in GGUF
/// files and tokenizer_config.json) rendered by ``JinjaTemplate`` as transformers renders it,
/// or one of two built-in formats, ChatML and Llama 3, for models that declare none.
///
/// ```swift
/// let template = try ChatTemplate(jinja: try file.string("tokenizer.chat_template"), bosToken: "<s>", eosToken: "</s>")
/// let prompt = try template.render([.init(role: "user", content: "What is the capital of France?")])
/// ```
public struct ChatTemplate: Sendable, Equatable {
    public enum Style: Sendable, Equatable {
        case chatML(defaultSystem: String?)
        case llama3
        case jinja(JinjaTemplate)

        public static func == (left: Style, right: Style) -> Bool {
            switch (left, right) {
            case let (.chatML(a), .chatML(b)): return a == b
            case (.llama3, .llama3): return true
            case let (.jinja(a), .jinja(b)): return a.source == b.source
            default: return false
            }
        }
    }

    public struct Message: Sendable, Equatable {
        public var role: String
        public var content: String
        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    public let style: Style
    /// What the template's `bos_token` and `eos_token` name.
    public var bosToken: String
    public var eosToken: String

    public init(style: Style, bosToken: String = "", eosToken: String = "") {
        self.style = style
        self.bosToken = bosToken
        self.eosToken = eosToken
    }

    /// The model's own template; a template that does not parse is a ``JinjaError`` naming
    /// the line and column.
    public init(jinja: String, bosToken: String = "", eosToken: String = "") throws {
        self.init(style: .jinja(try JinjaTemplate(jinja)), bosToken: bosToken, eosToken: eosToken)
    }

    /// The prompt text for `messages`, ending with the assistant's turn opened when
    /// `addGenerationPrompt` is true. A template's own checks (`raise_exception`, such as
    /// "roles must alternate") throw ``JinjaError/raised(_:)``.
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true, now: Date = Date()) throws -> String {
        var text = ""
        switch style {
        case let .chatML(defaultSystem):
            if let defaultSystem, messages.first?.role != "system" { text += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n" }
            for message in messages { text += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n" }
            if addGenerationPrompt { text += "<|im_start|>assistant\n" }
        case .llama3:
            text = "<|begin_of_text|>"
            for message in messages { text += "<|start_header_id|>\(message.role)<|end_header_id|>\n\n\(message.content)<|eot_id|>" }
            if addGenerationPrompt { text += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case let .jinja(template):
            let list = JinjaValue.array(messages.map { .object(JinjaObject([("role", .string($0.role)), ("content", .string($0.content))])) })
            text = try template.render(["messages": list, "add_generation_prompt": .bool(addGenerationPrompt), "bos_token": .string(bosToken),
                                        "eos_token": .string(eosToken)], now: now)
        }
        return text
    }

    /// The token that ends an assistant turn: the built-in formats' own, or the first known
    /// end-of-turn marker a template writes (nil where it writes none of them).
    public var endOfTurn: String? {
        switch style {
        case .chatML: return "<|im_end|>"
        case .llama3: return "<|eot_id|>"
        case let .jinja(template):
            let markers = ["<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|END_OF_TURN_TOKEN|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>",
                           "<|endoftext|>", "</s>"]
            return markers.first { template.source.contains($0) }
        }
    }
}

extension ChatTemplate {
    /// A model's chat template and the text of its bos and eos tokens, as its files declare them.
    public struct Source: Sendable, Equatable {
        public let template: String
        public let bosToken: String
        public let eosToken: String

        public init(template: String, bosToken: String = "", eosToken: String = "") {
            self.template = template
            self.bosToken = bosToken
            self.eosToken = eosToken
        }
    }

    /// A GGUF file's `tokenizer.chat_template`, with the tokens of its bos and eos ids (nil
    /// where it declares no template).
    public static func source(gguf file: GGUF.File) -> Source? {
        guard let template = file.metadata["tokenizer.chat_template"]?.string else { return nil }
        let tokens = file.metadata["tokenizer.ggml.tokens"]?.array ?? []
        func token(_ key: String) -> String {
            file.metadata[key]?.integer.flatMap { tokens.indices.contains($0) ? tokens[$0].string : nil } ?? ""
        }
        return Source(template: template, bosToken: token("tokenizer.ggml.bos_token_id"), eosToken: token("tokenizer.ggml.eos_token_id"))
    }

    /// A tokenizer_config.json's `chat_template` (a string, or a list of named templates whose
    /// "default" applies), with its bos_token and eos_token (strings, or added tokens'
    /// {"content": ...}); nil where it declares no template.
    public static func source(tokenizerConfig config: [String: Any]) -> Source? {
        var template = config["chat_template"] as? String
        if template == nil, let named = config["chat_template"] as? [[String: Any]] {
            template = named.first { $0["name"] as? String == "default" }?["template"] as? String
        }
        guard let template else { return nil }
        func token(_ key: String) -> String { (config[key] as? String) ?? ((config[key] as? [String: Any])?["content"] as? String) ?? "" }
        return Source(template: template, bosToken: token("bos_token"), eosToken: token("eos_token"))
    }
}
