import ArgumentParser
import CortexCore
import CortexModels
import Foundation

/// Greedy generation with the GPT-2 124M architecture (random weights, float32): a 16-token
/// prompt and 64 new tokens, tokens per second after the first, time to the first token, and
/// peak resident memory over the weights' size; Hugging Face transformers' `generate` beside it.
struct GPT2Suite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gpt2", abstract: "GPT-2 124M greedy generation speed.")

    @OptionGroup var options: BenchmarkOptions

    func run() throws {
        let reference = PyTorchReference.run(suite: "gpt2", repetitions: options.repetitions)
        let configuration = GPTConfiguration(vocabularySize: 50257, contextLength: 1024, embeddingSize: 768, layers: 12, heads: 12, dropout: 0)
        let model = GPT(configuration, generator: RandomGenerator(seed: 0))
        model.eval()
        let weightBytes = Double(model.parameterCount() * 4)
        let generator = RandomGenerator(seed: 1)
        let prompt = (0..<16).map { _ in generator.integer(below: 50257) }
        func timing(_ model: CausalLanguageModel) throws -> (first: Double, rate: Double) {
            try greedyTiming(model, prompt: prompt, newTokens: 64, repetitions: options.repetitions)
        }
        let native = try timing(model)
        let firstTokenSeconds = [native.first], tokensPerSecond = [native.rate]
        // Before any GGUF file is mapped.
        let peakMemory = peakResidentBytes() / weightBytes
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        // llama.cpp on GGUF files of a random GPT-2 124M of the same shape (Tools/make-gpt2-gguf.sh).
        var llamaCpp: [String: Double] = [:], ggufRates: [String: Double] = [:]
        var llamaNote = LlamaCppReference.unsetNote
        if LlamaCppReference.binDirectory != nil {
            if let directory = ProcessInfo.processInfo.environment["CORTEX_GPT2_GGUF"] {
                for type in ["f32", "f16", "q8_0"] {
                    let file = (directory as NSString).appendingPathComponent("gpt2-\(type).gguf")
                    let result = LlamaCppReference.bench(model: file, promptTokens: 16, generatedTokens: 64, threads: CPUParallelism.threadCount)
                    llamaCpp[type] = result.generation
                    llamaNote = result.note
                    // Cortex on the same file.
                    if FileManager.default.fileExists(atPath: file) { ggufRates[type] = try timing(GPT.load(gguf: file)).rate }
                }
                llamaNote += " On \(directory)/gpt2-{f32,f16,q8_0}.gguf: tg64 f32 \(llamaCpp["f32"].map(BenchmarkReport.format) ?? "-"), "
                    + "f16 \(llamaCpp["f16"].map(BenchmarkReport.format) ?? "-"), Q8_0 \(llamaCpp["q8_0"].map(BenchmarkReport.format) ?? "-") tokens/s."
            } else {
                llamaNote = "llama.cpp column empty: set CORTEX_GPT2_GGUF to the files of Tools/make-gpt2-gguf.sh."
            }
        }
        var rows: [BenchmarkRow] = []
        rows.append(BenchmarkRow(name: "gpt2_greedy_tokens_per_sec", cortex: median(tokensPerSecond),
                                 reference: reference.figures["gpt2_greedy_tokens_per_sec"], unit: "tokens/s", llamaCpp: llamaCpp["f32"]))
        for type in ["f32", "f16", "q8_0"] {
            guard let rate = ggufRates[type] else { continue }
            rows.append(BenchmarkRow(name: "gpt2_gguf_\(type)_greedy_tokens_per_sec", cortex: rate, reference: nil, unit: "tokens/s", llamaCpp: llamaCpp[type]))
        }
        rows.append(BenchmarkRow(name: "gpt2_time_to_first_token", cortex: median(firstTokenSeconds) * 1000,
                                 reference: reference.figures["gpt2_time_to_first_token"], unit: "ms", higherIsBetter: false))
        rows.append(BenchmarkRow(name: "gpt2_peak_memory_over_weights", cortex: peakMemory,
                                 reference: reference.figures["gpt2_peak_memory_over_weights"], unit: "x", higherIsBetter: false))
        BenchmarkReport.print(rows, json: options.json, notes: [reference.note, llamaNote,
            "GPT-2 124M architecture, random float32 weights (\(String(format: "%.0f", weightBytes / 1e6)) MB), 16-token prompt, 64 new tokens, greedy; "
            + "\(CPUParallelism.threadCount) threads. Tokens/s counts the 63 tokens after the first."], llamaCppRows: true)
    }
}
