import CortexCore
import CortexNN
import Foundation

/// How the next token is drawn from a model's logits.
public struct SamplingOptions: Sendable {
    /// 0 means greedy (the most likely token).
    public var temperature: Float
    /// Keep only the k most likely tokens (nil: all).
    public var topK: Int?

    public init(temperature: Float = 1, topK: Int? = nil) {
        self.temperature = temperature
        self.topK = topK
    }

    /// The index drawn from one row of logits.
    public func draw(_ logits: [Float], generator: RandomGenerator) -> Int {
        guard temperature > 0 else { return logits.indices.max { logits[$0] < logits[$1] }! }
        var scaled = logits.map { $0 / temperature }
        if let topK, topK > 0, topK < scaled.count {
            let threshold = scaled.sorted(by: >)[topK - 1]
            scaled = scaled.map { $0 < threshold ? -.infinity : $0 }
        }
        let maximum = scaled.max()!
        let weights = scaled.map { Foundation.exp(Double($0 - maximum)) }
        var target = Double(generator.uniformFloats(1)[0]) * weights.reduce(0, +)
        for (index, weight) in weights.enumerated() {
            target -= weight
            if target <= 0 && weight > 0 { return index }
        }
        return weights.lastIndex { $0 > 0 }!
    }
}

extension GPT {
    /// `prompt` followed by `maxNewTokens` tokens drawn one at a time (the context cropped to the
    /// model's length); `onToken` sees each new token as it is produced.
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                         generator: RandomGenerator = .default, onToken: (Int) -> Void = { _ in }) throws -> [Int] {
        guard !prompt.isEmpty else { throw CortexError.invalidArgument(operation: "GPT.generate", reason: "the prompt has no tokens") }
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        var tokens = prompt
        try withNoGrad {
            // The prompt fills a key/value cache once; each new token then costs one position.
            // Past the context length the window slides and the cache is rebuilt from it.
            var cache = try makeCache()
            var pending = Array(tokens.suffix(configuration.contextLength))
            for _ in 0..<maxNewTokens {
                if cache.length + pending.count > configuration.contextLength {
                    cache = try makeCache()
                    pending = Array(tokens.suffix(configuration.contextLength - 1))
                }
                let logits = try self(Tensor(integers: pending, shape: [1, pending.count]), cache: cache)
                let last = try logits.select(axis: 1, index: pending.count - 1).reshape([-1]).toFloatArray()
                let next = sampling.draw(last, generator: generator)
                tokens.append(next)
                onToken(next)
                pending = [next]
            }
        }
        return tokens
    }
}
