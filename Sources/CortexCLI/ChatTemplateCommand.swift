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

    /// The template and the bos and eos tokens' text of a model, directory or template file.
    static func template(of model: String) throws -> (source: String, bos: String, eos: String) {
        let (path, isFile) = TextGenerator.location(model)
        if isFile && path.hasSuffix(".jinja") {
            guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
            return (String(decoding: data, as: UTF8.self), "", "")
        }
        let found: ChatTemplate.Source?
        let origin: String
        if isFile {
            (found, origin) = (ChatTemplate.source(gguf: try GGUF.load(path)), path)
        } else {
            origin = (path as NSString).appendingPathComponent("tokenizer_config.json")
            guard let data = FileManager.default.contents(atPath: origin),
                  let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CortexError.io(path: origin, reason: "cannot be read as a JSON object")
            }
            found = ChatTemplate.source(tokenizerConfig: config)
        }
        guard let found else { throw CortexError.invalidFile(path: origin, reason: "declares no chat template") }
        return (found.template, found.bosToken, found.eosToken)
    }
}
