import CortexModels
import Foundation

/// Median seconds to the first token and median tokens/s after it, over greedy runs of
/// `model` generating `newTokens` from `prompt` (at least 3 runs).
func greedyTiming(_ model: CausalLanguageModel, prompt: [Int], newTokens: Int, repetitions: Int) throws -> (first: Double, rate: Double) {
    var firstTokenSeconds: [Double] = [], tokensPerSecond: [Double] = []
    for _ in 0..<max(repetitions / 5, 3) {
        let start = DispatchTime.now().uptimeNanoseconds
        var first: UInt64 = 0
        var count = 0
        _ = try model.generate(prompt: prompt, maxNewTokens: newTokens, sampling: SamplingOptions(temperature: 0), onToken: { _ in
            count += 1
            if count == 1 { first = DispatchTime.now().uptimeNanoseconds }
        })
        let end = DispatchTime.now().uptimeNanoseconds
        firstTokenSeconds.append(Double(first - start) * 1e-9)
        tokensPerSecond.append(Double(count - 1) / (Double(end - first) * 1e-9))
    }
    return (firstTokenSeconds.sorted()[firstTokenSeconds.count / 2], tokensPerSecond.sorted()[tokensPerSecond.count / 2])
}
