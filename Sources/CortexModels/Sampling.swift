import CortexCore
import CortexNN
import Foundation

/// How the next token is drawn from a model's logits, with Hugging Face's `generate` options.
public struct SamplingOptions: Sendable {
    /// 0 means greedy (the most likely token).
    public var temperature: Float
    /// Keep only the k most likely tokens (nil: all).
    public var topK: Int?
    /// Keep the smallest set of most likely tokens whose probability reaches p (nil: all).
    public var topP: Float?
    /// Divide positive logits (multiply negative ones) of tokens already in the sequence by this
    /// (CTRL's penalty; 1: none).
    public var repetitionPenalty: Float

    public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, repetitionPenalty: Float = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
    }

    /// Throws unless every setting is usable.
    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw CortexError.invalidArgument(operation: "sampling", reason: "temperature \(temperature) must be 0 or more") }
        if let topK, topK < 0 { throw CortexError.invalidArgument(operation: "sampling", reason: "top-k \(topK) must be 0 or more") }
        if let topP, !(topP > 0 && topP <= 1) { throw CortexError.invalidArgument(operation: "sampling", reason: "top-p \(topP) must be in (0, 1]") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
            throw CortexError.invalidArgument(operation: "sampling", reason: "repetition penalty \(repetitionPenalty) must be positive")
        }
    }

    /// The index drawn from one row of logits, given the tokens so far.
    public func draw(_ logits: [Float], previous: [Int] = [], generator: RandomGenerator) -> Int {
        var scores = logits
        if repetitionPenalty != 1 {
            for token in Set(previous) where scores.indices.contains(token) {
                scores[token] = scores[token] > 0 ? scores[token] / repetitionPenalty : scores[token] * repetitionPenalty
            }
        }
        guard temperature > 0 else { return scores.indices.max { scores[$0] < scores[$1] }! }
        var scaled = scores.map { $0 / temperature }
        if let topK, topK > 0, topK < scaled.count {
            let threshold = scaled.sorted(by: >)[topK - 1]
            scaled = scaled.map { $0 < threshold ? -.infinity : $0 }
        }
        let maximum = scaled.max()!
        var weights = scaled.map { Foundation.exp(Double($0 - maximum)) }
        if let topP, topP < 1 {
            let total = weights.reduce(0, +)
            var kept = 0.0
            var keep = [Bool](repeating: false, count: weights.count)
            for index in weights.indices.sorted(by: { weights[$0] > weights[$1] }) {
                keep[index] = true
                kept += weights[index]
                if kept >= Double(topP) * total { break }
            }
            weights = weights.indices.map { keep[$0] ? weights[$0] : 0 }
        }
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
    /// Stops early after a token in `stopTokens` (it is kept) or when `shouldStop` says so.
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                         stopTokens: Set<Int> = [], generator: RandomGenerator = .default,
                         shouldStop: ([Int]) -> Bool = { _ in false }, onToken: (Int) -> Void = { _ in }) throws -> [Int] {
        guard !prompt.isEmpty else { throw CortexError.invalidArgument(operation: "GPT.generate", reason: "the prompt has no tokens") }
        guard maxNewTokens >= 0 else { throw CortexError.invalidArgument(operation: "GPT.generate", reason: "max new tokens \(maxNewTokens) is negative") }
        try sampling.validate()
        if let outside = prompt.first(where: { $0 < 0 || $0 >= configuration.vocabularySize }) {
            throw CortexError.indexOutOfRange(operation: "GPT.generate", index: outside, bound: configuration.vocabularySize)
        }
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
                let next = sampling.draw(last, previous: tokens, generator: generator)
                tokens.append(next)
                onToken(next)
                pending = [next]
                if stopTokens.contains(next) || shouldStop(tokens) { break }
            }
        }
        return tokens
    }
}

extension GPT {
    /// Continues several prompts at once: they are left-padded to one length (padding takes no
    /// position and is never attended to), and each gets up to `maxNewTokens` new tokens,
    /// fewer when one of `stopTokens` ends it (the stop token is kept). Returns the new tokens
    /// of each prompt, as `generate(prompt:)` would for it alone.
    public func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                         stopTokens: Set<Int> = [], generator: RandomGenerator = .default) throws -> [[Int]] {
        guard !prompts.isEmpty, prompts.allSatisfy({ !$0.isEmpty }) else {
            throw CortexError.invalidArgument(operation: "GPT.generate", reason: "every prompt needs at least one token")
        }
        try sampling.validate()
        let longest = prompts.map(\.count).max()!
        guard longest + maxNewTokens <= configuration.contextLength else {
            throw CortexError.invalidArgument(operation: "GPT.generate",
                                              reason: "\(longest) prompt tokens + \(maxNewTokens) new ones exceed the context of \(configuration.contextLength)")
        }
        if let outside = prompts.joined().first(where: { $0 < 0 || $0 >= configuration.vocabularySize }) {
            throw CortexError.indexOutOfRange(operation: "GPT.generate", index: outside, bound: configuration.vocabularySize)
        }
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        var produced = Array(repeating: [Int](), count: prompts.count)
        var finished = Array(repeating: false, count: prompts.count)
        try withNoGrad {
            let cache = try makeCache(batch: prompts.count)
            var ids = prompts.flatMap { Array(repeating: 0, count: longest - $0.count) + $0 }
            var padding: [[Bool]]? = prompts.map { Array(repeating: true, count: longest - $0.count) + Array(repeating: false, count: $0.count) }
            var steps = longest
            for _ in 0..<maxNewTokens where finished.contains(false) {
                let logits = try self(Tensor(integers: ids, shape: [prompts.count, steps]), cache: cache, padding: padding)
                let last = try logits.select(axis: 1, index: steps - 1).toFloatArray()
                let vocabulary = configuration.vocabularySize
                ids = []
                for sequence in prompts.indices {
                    let next = sampling.draw(Array(last[(sequence * vocabulary)..<((sequence + 1) * vocabulary)]),
                                             previous: prompts[sequence] + produced[sequence], generator: generator)
                    ids.append(next)
                    if !finished[sequence] {
                        produced[sequence].append(next)
                        finished[sequence] = stopTokens.contains(next)
                    }
                }
                padding = nil
                steps = 1
            }
        }
        return produced
    }
}
