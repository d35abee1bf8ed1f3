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
        var firstTokenSeconds: [Double] = [], tokensPerSecond: [Double] = []
        for _ in 0..<max(options.repetitions / 5, 3) {
            let start = DispatchTime.now().uptimeNanoseconds
            var first: UInt64 = 0
            var count = 0
            _ = try model.generate(prompt: prompt, maxNewTokens: 64, sampling: SamplingOptions(temperature: 0), onToken: { _ in
                count += 1
                if count == 1 { first = DispatchTime.now().uptimeNanoseconds }
            })
            let end = DispatchTime.now().uptimeNanoseconds
            firstTokenSeconds.append(Double(first - start) * 1e-9)
            tokensPerSecond.append(63 / (Double(end - first) * 1e-9))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        var rows: [BenchmarkRow] = []
        rows.append(BenchmarkRow(name: "gpt2_greedy_tokens_per_sec", cortex: median(tokensPerSecond),
                                 reference: reference.figures["gpt2_greedy_tokens_per_sec"], unit: "tokens/s"))
        rows.append(BenchmarkRow(name: "gpt2_time_to_first_token", cortex: median(firstTokenSeconds) * 1000,
                                 reference: reference.figures["gpt2_time_to_first_token"], unit: "ms", higherIsBetter: false))
        rows.append(BenchmarkRow(name: "gpt2_peak_memory_over_weights", cortex: peakResidentBytes() / weightBytes,
                                 reference: reference.figures["gpt2_peak_memory_over_weights"], unit: "x", higherIsBetter: false))
        BenchmarkReport.print(rows, json: options.json, notes: [reference.note,
            "GPT-2 124M architecture, random float32 weights (\(String(format: "%.0f", weightBytes / 1e6)) MB), 16-token prompt, 64 new tokens, greedy; "
            + "\(CPUParallelism.threadCount) threads. Tokens/s counts the 63 tokens after the first."])
    }
}
