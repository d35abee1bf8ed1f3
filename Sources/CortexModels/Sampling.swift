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
    /// Subtracted once from the logit of every token already generated (OpenAI's
    /// `presence_penalty`, -2...2; 0: none).
    public var presencePenalty: Float
    /// Subtracted from a token's logit once per time it was generated (OpenAI's
    /// `frequency_penalty`, -2...2; 0: none).
    public var frequencyPenalty: Float

    public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, repetitionPenalty: Float = 1, presencePenalty: Float = 0,
                frequencyPenalty: Float = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
    }

    /// True when `draw` takes the most likely token of the raw logits (temperature 0, no penalty).
    public var isGreedy: Bool { temperature == 0 && repetitionPenalty == 1 && presencePenalty == 0 && frequencyPenalty == 0 }

    /// Throws unless every setting is usable.
    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw CortexError.invalidArgument(operation: "sampling", reason: "temperature \(temperature) must be 0 or more") }
        if let topK, topK < 0 { throw CortexError.invalidArgument(operation: "sampling", reason: "top-k \(topK) must be 0 or more") }
        if let topP, !(topP > 0 && topP <= 1) { throw CortexError.invalidArgument(operation: "sampling", reason: "top-p \(topP) must be in (0, 1]") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
            throw CortexError.invalidArgument(operation: "sampling", reason: "repetition penalty \(repetitionPenalty) must be positive")
        }
        for (name, value) in [("presence", presencePenalty), ("frequency", frequencyPenalty)] where !(value >= -2 && value <= 2) {
            throw CortexError.invalidArgument(operation: "sampling", reason: "\(name) penalty \(value) must be in [-2, 2]")
        }
    }

    /// The index drawn from one row of logits, given the tokens so far (`previous`, prompt
    /// included, for the repetition penalty) and those generated (`generated`, for the presence
    /// and frequency penalties; `previous` when nil).
    public func draw(_ logits: [Float], previous: [Int] = [], generated: [Int]? = nil, generator: RandomGenerator) -> Int {
        var scores = logits
        if repetitionPenalty != 1 {
            for token in Set(previous) where scores.indices.contains(token) {
                scores[token] = scores[token] > 0 ? scores[token] / repetitionPenalty : scores[token] * repetitionPenalty
            }
        }
        if presencePenalty != 0 || frequencyPenalty != 0 {
            var counts: [Int: Int] = [:]
            for token in generated ?? previous { counts[token, default: 0] += 1 }
            for (token, count) in counts where scores.indices.contains(token) {
                scores[token] -= Float(count) * frequencyPenalty + presencePenalty
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
