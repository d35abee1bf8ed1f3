import CortexCore
import CortexNN
import CortexText
import Foundation

/// `cortex quantize`: a GPT-2 or Llama-family model (a GGUF file, a Hugging Face directory,
/// a cache name or a `PretrainedModels` short name) written as a GGUF file in one format, the
/// way llama.cpp's llama-quantize (for GGUF sources) and convert_hf_to_gguf.py (for
/// checkpoints) write theirs.
public struct ModelQuantization: Sendable, Codable {
    public var source: String
    public var output: String
    public var architecture: String
    public var format: String
    public var sourceBytes: Int
    public var outputBytes: Int
    public var tensors: Int
    /// Matrices written in the fallback format (rows not whole blocks of `format`).
    public var fellBack: [String]
    public var fallback: String?
    /// int8: the Linear and Conv2d layers quantised.
    public var int8Layers: Int?

    public init(source: String, output: String, architecture: String, format: String, sourceBytes: Int, outputBytes: Int, tensors: Int,
                fellBack: [String] = [], fallback: String? = nil, int8Layers: Int? = nil) {
        (self.source, self.output, self.architecture, self.format) = (source, output, architecture, format)
        (self.sourceBytes, self.outputBytes, self.tensors) = (sourceBytes, outputBytes, tensors)
        (self.fellBack, self.fallback, self.int8Layers) = (fellBack, fallback, int8Layers)
    }

    /// The size of the file at `path` (0 where it cannot be read), for the report.
    public static func fileBytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    /// Reads `nameOrPath`, writes `output` atomically (never over the source) and reports the
    /// sizes before and after. `prepare` sees the loaded model before it is written (`cortex
    /// merge` folds an adapter into it there).
    public static func run(model nameOrPath: String, format: QuantizationFormat, fallback: QuantizationFormat? = .q8_0,
                           output: String, prepare: (Module) throws -> Void = { _ in }) throws -> ModelQuantization {
        let (path, isFile) = TextGenerator.location(nameOrPath)
        var export: GGUFExport
        var protected: [String]
        let sourceBytes: Int
        if isFile {
            let file = try GGUF.load(path)
            let architecture = try file.string("general.architecture")
            let name = file.metadata["general.name"]?.string ?? (path as NSString).lastPathComponent
            switch architecture {
            case "llama":
                let model = try Llama.load(gguf: file)
                try prepare(model)
                export = try model.ggufExport(format: format, fallback: fallback, name: name)
            case "qwen2":
                throw CortexError.invalidFile(path: path, reason: "architecture \"qwen2\" is read but not yet written by Cortex (llama, gpt2)")
            case "gpt2":
                let model = try GPT.load(gguf: file)
                try prepare(model)
                export = try model.ggufExport(format: format, fallback: fallback, name: name)
            default:
                throw CortexError.invalidFile(path: path, reason: "architecture \"\(architecture)\" is not one Cortex exports (llama, gpt2)")
            }
            export.writer.copy(from: file, prefixes: ["tokenizer."])
            protected = [path]
            sourceBytes = fileBytes(path)
        } else {
            let directory = try GPT.checkpointDirectory(path)
            let generator = try TextGenerator.load(directory)
            let name = (directory as NSString).lastPathComponent
            let config = TextGenerator.jsonObject((directory as NSString).appendingPathComponent("config.json")) ?? [:]
            let tokenizerConfig = TextGenerator.jsonObject((directory as NSString).appendingPathComponent("tokenizer_config.json")) ?? [:]
            func id(_ key: String) -> Int? { (config[key] as? Int) ?? (config[key] as? [Int])?.first }
            try prepare(generator.model)
            switch generator.model {
            case let llama as Llama:
                export = try llama.ggufExport(format: format, fallback: fallback, name: name)
                export.setTokenizer(generator.tokenizer, bos: id("bos_token_id"), eos: id("eos_token_id"),
                                    addBOS: tokenizerConfig["add_bos_token"] as? Bool ?? false,
                                    chatTemplate: tokenizerConfig["chat_template"] as? String, vocabularySize: llama.vocabularySize)
            case let gpt as GPT:
                export = try gpt.ggufExport(format: format, fallback: fallback, name: name)
                let endOfText = generator.tokenizer.specialTokens["<|endoftext|>"]
                export.setTokenizer(generator.tokenizer, pre: "gpt-2", bos: endOfText, eos: endOfText, vocabularySize: gpt.vocabularySize)
            default:
                throw CortexError.invalidArgument(operation: "quantize", reason: "\(type(of: generator.model)) is not a model Cortex exports")
            }
            let weights = (directory as NSString).appendingPathComponent("model.safetensors")
            protected = [weights]
            sourceBytes = fileBytes(weights)
        }
        try export.writer.write(to: output, protecting: protected)
        let outputBytes = fileBytes(output)
        return ModelQuantization(source: path, output: output, architecture: export.writer.metadata["general.architecture"]?.string ?? "?",
                                 format: format.description, sourceBytes: sourceBytes, outputBytes: outputBytes,
                                 tensors: export.writer.tensors.count, fellBack: export.fellBack,
                                 fallback: export.fellBack.isEmpty ? nil : fallback?.description)
    }
}
