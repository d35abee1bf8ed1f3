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
        let pre = file.metadata["tokenizer.ggml.pre"]?.string ?? "default"
        guard let (preTokenization, ignoresMerges) = try GGUFPreTokenizers.named(pre) else {
            throw CortexError.invalidFile(path: file.path, reason: "tokenizer.ggml.pre \"\(pre)\" names a pre-tokenizer Cortex does not implement "
                                          + "(it does \(GGUFPreTokenizers.names.sorted().joined(separator: ", ")))")
        }
        return try ByteLevelBPETokenizer(vocabulary: vocabulary, merges: merges, specialTokens: specials, preTokenization: preTokenization,
                                         ignoresMerges: ignoresMerges, source: file.path)
    }
}

/// The pre-tokenizers behind llama.cpp's `tokenizer.ggml.pre` names: each name's tokenizer.json
/// definition (the pattern Hugging Face splits with, before llama.cpp adapted it), GPT-2's and
/// Llama 3's run by the hand-written scanners and the rest by ``RegexSplitter``, with whether
/// the tokenizer takes a piece that is a token whole (`ignore_merges`) as llama.cpp sets it.
/// Names outside the table are refused, never guessed.
enum GGUFPreTokenizers {
    static let gpt2Names: Set<String> = ["default", "gpt-2", "gpt2", "phi-2", "smollm", "mpt", "olmo", "jais", "gigachat", "mellum", "modern-bert",
                                         "a.x-4.0", "trillion", "granite-docling", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de"]
    static let llama3Names: Set<String> = ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
                                           "glm4", "glm5", "dbrx", "smaug-bpe", "chatglm-bpe"]
    /// Llama 3's pattern with each digit alone (Qwen 2's `\p{N}` for `\p{N}{1,3}`).
    static let qwen2Names: Set<String> = ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "grok-2"]
    /// Names whose tokenizers take a piece that is a token whole.
    static let ignoringMerges: Set<String> = ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
                                              "glm4", "glm5", "tekken"]
    /// Names run by one regular expression, with its tokenizer.json pattern.
    static let patterns: [String: String] = {
        let gpt4o = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let bailing = #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#
        let bloom = #" ?[^(\s|.,!?…。，、।۔،)]+"#
        return [
            "qwen35": #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            "gpt-4o": gpt4o, "llama4": gpt4o, "kanana2": gpt4o, "talkie": gpt4o, "minimax-m2": gpt4o,
            "tekken": #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            "seed-coder": #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            "bailingmoe": bailing, "bailingmoe2": bailing, "llada-moe": bailing,
            "bloom": bloom, "poro-chat": bloom,
        ]
    }()
    /// Names run by a sequence of regular expressions, each splitting the pieces of the one before.
    static let sequences: [String: [String]] = {
        let deepseek3 = [#"\p{N}{1,3}"#, #"[一-龥぀-ゟ゠-ヿ]+"#,
                         ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##]
        let tinyAya = [#"\d{1,3}(?=(?:\d{3})*\b)"#,
                       #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        return ["deepseek-v3": deepseek3, "hunyuan-dense": deepseek3, "joyai-llm": deepseek3, "hy_v4": deepseek3,
                "tiny_aya": tinyAya, "cohere2moe": tinyAya,
                "superbpe": [#"\p{N}+"#, #"(?=(\d{3})+(?!\d))"#]]
    }()

    static var names: Set<String> {
        gpt2Names.union(llama3Names).union(qwen2Names).union(patterns.keys).union(sequences.keys)
            .union(["starcoder", "refact", "command-r", "deepseek-llm", "deepseek-coder", "falcon"])
    }

    /// The pre-tokenization `name` stands for, and whether merges are ignored for whole tokens;
    /// nil for a name outside the table.
    static func named(_ name: String) throws -> (PreTokenization, Bool)? {
        let ignores = ignoringMerges.contains(name)
        if gpt2Names.contains(name) { return (.gpt2, ignores) }
        if llama3Names.contains(name) { return (.llama3, ignores) }
        if qwen2Names.contains(name) { return (PreTokenization(pattern: .llama3, isolateDigits: true), ignores) }
        if let pattern = patterns[name] { return (PreTokenization(pattern: .regexes([try RegexSplitter(pattern)])), ignores) }
        if let sequence = sequences[name] { return (PreTokenization(pattern: .regexes(try sequence.map(RegexSplitter.init))), ignores) }
        switch name {
        // GPT-2's pattern behind a split of every digit (\p{N}) for StarCoder, Refact and
        // Command R, and of every run of digits (\p{N}+) for DeepSeek's (whose other splits
        // GPT-2's matches on llama.cpp's suite).
        case "starcoder", "refact", "command-r": return (PreTokenization(pattern: .gpt2, isolateDigits: true), ignores)
        case "deepseek-llm", "deepseek-coder": return (PreTokenization(pattern: .gpt2, isolateDigitRuns: true), ignores)
        // Punctuation runs, GPT-2's pattern, then numeric runs and digit triples on the mapped bytes.
        case "falcon": return (.falcon, ignores)
        default: return nil
        }
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
