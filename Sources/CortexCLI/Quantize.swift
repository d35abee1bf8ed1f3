import ArgumentParser
import CortexCore
import CortexModels
import Foundation

/// `cortex quantize`: a GPT-2 or Llama-family model written as a GGUF file in one format, with
/// ggml's own quantisers, that llama.cpp and Cortex read.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a GPT-2 or Llama-family model as a GGUF file in f32, f16, bf16, q8_0, q4_0, q4_1, q4_k or q6_k.",
        discussion: """
            --model is a .gguf file (its blocks are dequantised and quantised again, as llama-quantize --allow-requantize does), \
            a checkpoint directory (config.json, model.safetensors, tokenizer files), a model name in the Hugging Face cache, or \
            smollm2. Norms and biases stay F32. A matrix whose rows are not whole blocks of the format (SmolLM2's 576-wide rows in \
            q4_k's 256-value blocks) takes --fallback, as llama.cpp falls back; --fallback none makes it an error.
            """)

    @Option(help: "GGUF file, checkpoint directory, or model name.") var model: String
    @Option(help: "Target format: f32, f16, bf16, q8_0, q4_0, q4_1, q4_k or q6_k.") var to: String
    @Option(help: "Format for matrices whose rows do not divide into the target's blocks, or none.") var fallback = "q8_0"
    @Option(help: "The GGUF file to write.") var out: String
    @Flag(help: "Print one JSON object with the sizes before and after.") var json = false

    static func format(_ name: String, option: String) throws -> QuantizationFormat {
        guard let format = QuantizationFormat(name: name), GGUFWriter.quantizable.contains(format) else {
            throw ValidationError("\(option) must be one of \(GGUFWriter.quantizable.map { $0.description.lowercased() }.joined(separator: ", ")), got \(name)")
        }
        return format
    }

    func validate() throws {
        _ = try Self.format(to, option: "--to")
        if fallback != "none" { _ = try Self.format(fallback, option: "--fallback") }
    }

    func run() throws {
        let report: ModelQuantization
        do {
            report = try ModelQuantization.run(model: model, format: try Self.format(to, option: "--to"),
                                               fallback: fallback == "none" ? nil : try Self.format(fallback, option: "--fallback"), output: out)
        } catch let error as CortexError {
            throw ValidationError(error.description)
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
        if !report.fellBack.isEmpty {
            print("\(report.fellBack.count) matrices in \(report.fallback ?? "?") (rows not whole \(report.format) blocks): "
                  + report.fellBack.prefix(6).joined(separator: ", ") + (report.fellBack.count > 6 ? ", ..." : ""))
        }
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
        do {
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
        } catch let error as CortexError {
            throw ValidationError(error.description)
        }
    }
}
