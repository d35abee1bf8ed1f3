import ArgumentParser
import CortexCore
import CortexModels
import CortexText
import Foundation

/// `cortex chat-template`: a conversation rendered by a model's own chat template, as
/// llama.cpp's `/apply-template` and transformers' `apply_chat_template(tokenize=False)` give it.
struct ChatTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-template",
        abstract: "Print the prompt a model's chat template makes of a conversation.",
        discussion: """
            The template comes from a GGUF file's tokenizer.chat_template, a model directory's \
            tokenizer_config.json, or a .jinja file; bos_token and eos_token from the same model. \
            MESSAGES is a JSON list of messages (or an object with "messages"), as OpenAI's API \
            and transformers take them, tool calls included.
            """)

    @Option(help: "A GGUF file, a model directory, a .jinja template or a model's short name.") var model: String
    @Option(help: "JSON file of the conversation.") var messages: String
    @Option(help: "JSON file of the tools (a list of function definitions).") var tools: String?
    @Flag(name: .customLong("add-generation-prompt"), help: "End with the assistant's turn opened.") var addGenerationPrompt = false

    func run() throws {
        FileHandle.standardOutput.write(Data(try Self.prompt(model: model, messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt).utf8))
    }

    /// The rendered prompt (what `run` prints).
    static func prompt(model: String, messages: String, tools: String?, addGenerationPrompt: Bool) throws -> String {
        let (source, bos, eos) = try template(of: model)
        let template = try JinjaTemplate(source)
        var conversation = try json(messages)
        if case let .object(object) = conversation, let list = object["messages"] { conversation = list }
        guard case .array = conversation else { throw CortexError.invalidFile(path: messages, reason: "holds no list of messages") }
        var context: [String: JinjaValue] = ["messages": conversation, "add_generation_prompt": .bool(addGenerationPrompt),
                                             "bos_token": .string(bos), "eos_token": .string(eos)]
        if let tools { context["tools"] = try json(tools) }
        return try template.render(context)
    }

    static func json(_ path: String) throws -> JinjaValue {
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        do {
            return try JinjaValue.parseJSON(String(decoding: data, as: UTF8.self))
        } catch let error as JinjaError {
            throw CortexError.invalidFile(path: path, reason: error.description)
        }
    }

    /// The template text and the bos and eos tokens' text of a model, directory or template file.
    static func template(of model: String) throws -> (source: String, bos: String, eos: String) {
        let (path, isFile) = TextGenerator.location(model)
        if isFile && path.hasSuffix(".jinja") {
            guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
            return (String(decoding: data, as: UTF8.self), "", "")
        }
        if isFile {
            let file = try GGUF.load(path)
            guard let source = file.metadata["tokenizer.chat_template"]?.string else {
                throw CortexError.invalidFile(path: path, reason: "declares no tokenizer.chat_template")
            }
            let tokens = (try? file.strings("tokenizer.ggml.tokens")) ?? []
            func token(_ key: String) -> String {
                file.metadata[key]?.integer.flatMap { tokens.indices.contains($0) ? tokens[$0] : nil } ?? ""
            }
            return (source, token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"))
        }
        let configPath = (path as NSString).appendingPathComponent("tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: configPath),
              let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CortexError.io(path: configPath, reason: "cannot be read as a JSON object")
        }
        // A single template, or a list of named ones whose "default" applies.
        var source = config["chat_template"] as? String
        if source == nil, let named = config["chat_template"] as? [[String: Any]] {
            source = named.first { $0["name"] as? String == "default" }?["template"] as? String
        }
        guard let source else { throw CortexError.invalidFile(path: configPath, reason: "declares no chat_template") }
        func token(_ key: String) -> String { (config[key] as? String) ?? ((config[key] as? [String: Any])?["content"] as? String) ?? "" }
        return (source, token("bos_token"), token("eos_token"))
    }
}
