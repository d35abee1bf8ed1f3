import CortexCore
import Foundation

/// The perplexity of a causal language model over a text, as llama.cpp's llama-perplexity
/// measures it: the tokens cut into windows of `context` tokens, each window evaluated on its
/// own (no state carried over), and only the later tokens of each scored, so that every
/// scored token sees at least half a window of context.
///
/// With `stride` equal to the context (the default) the windows are disjoint and each scores
/// the predictions from its middle on (positions context/2 ..< context - 1), exactly
/// llama-perplexity's chunks. A smaller stride overlaps the windows (Hugging Face's
/// sliding-window method): each then scores its last `min(stride, context / 2)` tokens, so a
/// token is scored once, with at least `context - stride` tokens before it.
///
/// ```swift
/// let result = try Perplexity.evaluate(model, tokens: ids, context: 512)
/// print(result.perplexity)
/// ```
public enum Perplexity {
    public struct Result: Sendable, Codable, Equatable {
        public var perplexity: Double
        /// Mean negative log-likelihood (nats) of the scored tokens.
        public var meanNegativeLogLikelihood: Double
        public var scoredTokens: Int
        public var windows: Int
        public var context: Int
        public var stride: Int
        /// The running perplexity after each window (llama-perplexity prints these as [1]...).
        public var running: [Double]
    }

    public static func evaluate(_ model: any CausalLanguageModel, tokens: [Int], context: Int, stride: Int? = nil,
                                onWindow: (Int, Double) -> Void = { _, _ in }) throws -> Result {
        let stride = stride ?? context
        guard context >= 2, context <= model.contextLength else {
            throw CortexError.invalidArgument(operation: "perplexity", reason: "context \(context) must be from 2 to the model's \(model.contextLength)")
        }
        guard stride >= 1, stride <= context else {
            throw CortexError.invalidArgument(operation: "perplexity", reason: "stride \(stride) must be from 1 to the context \(context)")
        }
        guard tokens.count >= context else {
            throw CortexError.invalidArgument(operation: "perplexity",
                                              reason: "the text has \(tokens.count) tokens; one window takes \(context) (use a shorter --context)")
        }
        if let outside = tokens.first(where: { $0 < 0 || $0 >= model.vocabularySize }) {
            throw CortexError.indexOutOfRange(operation: "perplexity", index: outside, bound: model.vocabularySize)
        }
        // The first position whose prediction (of the token after it) is scored: llama-perplexity
        // scores from the middle of each chunk; overlapping windows score their last tokens.
        let first = stride == context ? context / 2 : context - 1 - min(stride, context / 2)
        let vocabulary = model.vocabularySize
        var total = 0.0, count = 0, windows = 0
        var running: [Double] = []
        try withNoGrad {
            for start in Swift.stride(from: 0, through: tokens.count - context, by: stride) {
                let window = Array(tokens[start..<(start + context)])
                let logits = try model(Tensor(integers: window, shape: [1, context])).toFloatArray()
                // Position p predicts token p + 1.
                for position in first..<(context - 1) {
                    let row = logits[(position * vocabulary)..<((position + 1) * vocabulary)]
                    total += logSumExp(row) - Double(row[row.startIndex + window[position + 1]])
                    count += 1
                }
                windows += 1
                running.append(Foundation.exp(total / Double(count)))
                onWindow(windows, running.last!)
            }
        }
        let mean = total / Double(count)
        return Result(perplexity: Foundation.exp(mean), meanNegativeLogLikelihood: mean, scoredTokens: count, windows: windows,
                      context: context, stride: stride, running: running)
    }

    static func logSumExp(_ row: ArraySlice<Float>) -> Double {
        let maximum = Double(row.max() ?? 0)
        var sum = 0.0
        for value in row { sum += Foundation.exp(Double(value) - maximum) }
        return maximum + Foundation.log(sum)
    }
}
