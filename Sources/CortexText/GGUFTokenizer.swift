import CortexCore

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
        // tokenizer.ggml.pre names the pattern (llama.cpp's names): Llama 3's for "llama-bpe",
        // GPT-2's for "gpt-2", "smollm", "default" and files that say nothing.
        let pre = file.metadata["tokenizer.ggml.pre"]?.string ?? "default"
        let preTokenization: PreTokenization = ["llama-bpe", "llama3", "smaug-bpe"].contains(pre) ? .llama3 : .gpt2
        return try ByteLevelBPETokenizer(vocabulary: vocabulary, merges: merges, specialTokens: specials, preTokenization: preTokenization,
                                         source: file.path)
    }
}

/// A chat model's prompt format, recognised from its Jinja template (`tokenizer.chat_template`
/// in GGUF files and tokenizer_config.json): ChatML (`<|im_start|>role ... <|im_end|>`, with
/// the template's default system message) and Llama 3 (`<|start_header_id|>`).
///
/// ```swift
/// let template = try ChatTemplate(jinja: try file.string("tokenizer.chat_template"))
/// let prompt = template.render([.init(role: "user", content: "What is the capital of France?")])
/// ```
public struct ChatTemplate: Sendable, Equatable {
    public enum Style: Sendable, Equatable {
        case chatML(defaultSystem: String?)
        case llama3
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

    public init(style: Style) { self.style = style }

    public init(jinja: String) throws {
        if jinja.contains("<|im_start|>") {
            // A default system message written into the template: '<|im_start|>system\n...<|im_end|>'.
            var system: String?
            if let start = jinja.range(of: "'<|im_start|>system\n"), let end = jinja.range(of: "<|im_end|>", range: start.upperBound..<jinja.endIndex) {
                let text = String(jinja[start.upperBound..<end.lowerBound])
                if !text.contains("'") && !text.contains("{") { system = text }
            }
            style = .chatML(defaultSystem: system)
        } else if jinja.contains("<|start_header_id|>") {
            style = .llama3
        } else {
            throw CortexError.invalidArgument(operation: "ChatTemplate", reason: "the chat template is neither ChatML nor Llama 3's: \(jinja.prefix(120))")
        }
    }

    /// The prompt text for `messages`, ending with the assistant's turn opened when
    /// `addGenerationPrompt` is true.
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true) -> String {
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
        }
        return text
    }

    /// The token that ends an assistant turn.
    public var endOfTurn: String {
        switch style {
        case .chatML: "<|im_end|>"
        case .llama3: "<|eot_id|>"
        }
    }
}
