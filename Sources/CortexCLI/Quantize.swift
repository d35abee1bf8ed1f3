import ArgumentParser
import CortexCore
import CortexData
import CortexModels
import CortexNN
import Foundation

/// `cortex quantize`: a GPT-2 or Llama-family model written as a GGUF file in one format, with
/// ggml's own quantisers, that llama.cpp and Cortex read.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a GPT-2 or Llama-family model as a GGUF file in f32, f16, bf16, q8_0, q4_0, q4_1, q4_k or q6_k, or a BERT or recipe model in int8.",
        discussion: """
            --to int8 quantises the Linear (and Conv2d) layers of a BERT or sentence-transformers directory (or all-minilm-l6-v2), \
            or of a recipe checkpoint (--recipe mnist-mlp, mnist-cnn or fashion-cnn), to per-channel int8 weights with activations \
            quantised per row at run time, and writes the directory to --out with model.safetensors in int8; --calibration-batches N \
            fixes a recipe model's activation ranges on N batches of 100 training images instead (static quantisation). \
            GPT-2 and Llama-family models take the GGUF formats (q8_0 is llama.cpp's 8-bit one). \

            For the GGUF formats, --model is a .gguf file (its blocks are dequantised and quantised again, as llama-quantize --allow-requantize does), \
            a checkpoint directory (config.json, model.safetensors, tokenizer files), a model name in the Hugging Face cache, or \
            smollm2. Norms and biases stay F32. A matrix whose rows are not whole blocks of the format (SmolLM2's 576-wide rows in \
            q4_k's 256-value blocks) takes --fallback, as llama.cpp falls back; --fallback none makes it an error.
            """)

    @Option(help: "GGUF file, checkpoint directory, or model name.") var model: String
    @Option(help: "Target format: f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q6_k, or int8.") var to: String
    @Option(help: "Format for matrices whose rows do not divide into the target's blocks, or none.") var fallback = "q8_0"
    @Option(help: "The GGUF file to write (the directory, for int8).") var out: String
    @Option(help: "int8: the recipe whose checkpoint --model is (mnist-mlp, mnist-cnn, fashion-cnn).") var recipe: String?
    @Option(name: .customLong("calibration-batches"), help: "int8 recipe models: calibrate on this many batches of 100 training images.")
    var calibrationBatches: Int?
    @Option(name: .customLong("data-dir"), help: "int8 calibration: the dataset's directory.") var dataDirectory: String?
    @Flag(help: "Print one JSON object with the sizes before and after.") var json = false

    static func format(_ name: String, option: String) throws -> QuantizationFormat {
        guard let format = QuantizationFormat(name: name), GGUFWriter.quantizable.contains(format) else {
            throw ValidationError("\(option) must be one of \(GGUFWriter.quantizable.map { $0.description.lowercased() }.joined(separator: ", ")), got \(name)")
        }
        return format
    }

    func validate() throws {
        if let calibrationBatches, calibrationBatches <= 0 {
            throw ValidationError("--calibration-batches must be positive, got \(calibrationBatches)")
        }
        if to.lowercased() == "int8" {
            if let recipe, !ClassifierCheckpoint.recipes.contains(recipe) {
                throw ValidationError("--recipe must be one of \(ClassifierCheckpoint.recipes.joined(separator: ", ")), got \(recipe)")
            }
            return
        }
        if recipe != nil { throw ValidationError("--recipe is for --to int8; recipe models are quantised to int8") }
        _ = try Self.format(to, option: "--to")
        if fallback != "none" { _ = try Self.format(fallback, option: "--fallback") }
    }

    func run() throws {
        let report: ModelQuantization
        if to.lowercased() == "int8" {
            report = try int8()
        } else {
            report = try ModelQuantization.run(model: model, format: try Self.format(to, option: "--to"),
                                               fallback: fallback == "none" ? nil : try Self.format(fallback, option: "--fallback"), output: out)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
        print("\(report.architecture) \(report.source) -> \(report.output) (\(report.format), \(report.tensors) tensors)")
        print("size: \(megabytes(report.sourceBytes)) -> \(megabytes(report.outputBytes))"
              + (report.sourceBytes > 0 ? String(format: " (%.2fx)", Double(report.sourceBytes) / Double(max(report.outputBytes, 1))) : ""))
        if let layers = report.int8Layers { print("\(layers) layers in int8") }
        if !report.fellBack.isEmpty {
            print("\(report.fellBack.count) matrices in \(report.fallback ?? "?") (rows not whole \(report.format) blocks): "
                  + report.fellBack.prefix(6).joined(separator: ", ") + (report.fellBack.count > 6 ? ", ..." : ""))
        }
    }
}

extension Quantize {
    /// --to int8: a recipe checkpoint (with --recipe) or a BERT directory.
    func int8() throws -> ModelQuantization {
        guard let recipe else { return try ModelQuantization.runInt8(bert: model, output: out) }
        let (classifier, dataset) = try ClassifierCheckpoint.load(recipe, checkpoint: model, operation: "quantize")
        let calibration = try calibrationBatches.map {
            try ClassifierCheckpoint.calibration(classifier, dataset: dataset, batches: $0, dataDirectory: dataDirectory)
        }
        let source = URL(fileURLWithPath: model).standardizedFileURL.path, target = URL(fileURLWithPath: out).standardizedFileURL.path
        guard source != target else { throw CortexError.invalidArgument(operation: "quantize", reason: "--out \(out) is the checkpoint directory itself") }
        let report = try Int8Quantization.quantize(classifier, calibration: calibration)
        try AtomicDirectory.write(to: target, owning: ["model.safetensors"]) { staging in
            try Int8Quantization.save(classifier, to: ClassifierCheckpoint.weightsPath(staging))
        }
        return ModelQuantization(source: source, output: target, architecture: recipe, format: calibration == nil ? "int8" : "int8 (static)",
                                 sourceBytes: ModelQuantization.fileBytes(ClassifierCheckpoint.weightsPath(source)),
                                 outputBytes: ModelQuantization.fileBytes(ClassifierCheckpoint.weightsPath(target)),
                                 tensors: classifier.stateDict().count, fellBack: [], fallback: nil, int8Layers: report.quantized.count)
    }
}

/// `cortex perplexity`: a causal model's perplexity over a text file, llama-perplexity's way.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "The perplexity of a GPT-2 or Llama-family model over a text file, in windows as llama-perplexity counts it.",
        discussion: """
            The text is tokenised whole and cut into windows of --context tokens, each evaluated on its own. With --stride equal to \
            the context (the default) the windows are disjoint and each scores its second half (llama-perplexity's chunks); a smaller \
            stride overlaps them and each scores its last min(stride, context/2) tokens (Hugging Face's sliding window).
            """)

    @Option(help: "GGUF file, checkpoint directory, or model name.") var model: String
    @Option(help: "The text file.") var text: String
    @Option(help: "Tokens per window.") var context = 512
    @Option(help: "Tokens between window starts (default: the context).") var stride: Int?
    @Option(name: .customLong("max-windows"), help: "Evaluate at most this many windows (0: all).") var maxWindows = 0
    @OptionGroup var quantized: QuantizedActivationsOption
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard context >= 2 else { throw ValidationError("--context must be at least 2, got \(context)") }
        if let stride, stride < 1 || stride > context { throw ValidationError("--stride must be from 1 to --context (\(context)), got \(stride)") }
        guard maxWindows >= 0 else { throw ValidationError("--max-windows must be 0 or more, got \(maxWindows)") }
        try quantized.validate()
    }

    func run() throws {
        try QuantizedMatrix.$activations.withValue(quantized.mode) {
            let generator = try TextGenerator.load(model)
            guard let data = FileManager.default.contents(atPath: text) else { throw CortexError.io(path: text, reason: "cannot be read") }
            var tokens = try generator.tokenizer.encode(String(decoding: data, as: UTF8.self))
            let step = stride ?? context
            if maxWindows > 0 { tokens = Array(tokens.prefix(context + (maxWindows - 1) * step)) }
            let result = try Perplexity.evaluate(generator.model, tokens: tokens, context: context, stride: stride) { window, running in
                if !json {
                    print("[\(window)] \(String(format: "%.4f", running))", terminator: window % 8 == 0 ? "\n" : " ")
                    fflush(nil)
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print("\nperplexity \(String(format: "%.4f", result.perplexity)) over \(result.scoredTokens) tokens in \(result.windows) windows of \(context)")
            }
        }
    }
}
