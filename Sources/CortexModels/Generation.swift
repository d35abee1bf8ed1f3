import CortexCore
import CortexNN
import Foundation

/// A decoder that predicts the next token and decodes incrementally with a key/value cache:
/// what generation, `TextGenerator` and `cortex generate` need of a model (GPT-2, Llama, ...).
public protocol CausalLanguageModel: Module {
    var vocabularySize: Int { get }
    /// Positions the model can attend over.
    var contextLength: Int { get }
    /// An empty cache for `batch` sequences of up to the context length, holding `dtype`
    /// (float32 or float16).
    func makeCache(batch: Int, dtype: DType) throws -> KeyValueCache
    /// Logits (B, vocabulary) for the position after the last of `ids` (B, T), which continue
    /// the sequences held in `cache` (it grows by T); `padding` (B × T, true for padding) marks
    /// left padding of a batch of prompts.
    func nextTokenLogits(_ ids: Tensor, cache: KeyValueCache, padding: [[Bool]]?) throws -> Tensor
    /// Logits (E, vocabulary) at the last position of each segment, segment e continuing the
    /// single-sequence cache `caches[e]` at its own length: one step of continuous batching,
    /// where a step mixes decoding sequences (segments of one token) with chunks of prompts,
    /// and sequences join and leave between steps. Llama runs the step as one forward pass
    /// (the weights read once for all rows); the default runs the segments one by one.
    func nextTokenLogits(segments: [[Int]], caches: [KeyValueCache]) throws -> Tensor
    /// ``nextTokenLogits(segments:caches:)`` with each segment's most likely next token (the
    /// first index of its largest logit, as greedy sampling picks). Where `exact[e]` is false,
    /// only the choice is guaranteed: the row of logits may be approximate (Llama's refined
    /// output projection then skips most of its second product).
    func nextTokenChoices(segments: [[Int]], caches: [KeyValueCache], exact: [Bool]) throws -> (logits: Tensor, choices: [Int])
    /// Logits (B, T, vocabulary) at every position of `ids` (B, T), no cache.
    func callAsFunction(_ ids: Tensor) throws -> Tensor
}

extension CausalLanguageModel {
    /// An empty float32 cache for `batch` sequences.
    public func makeCache(batch: Int) throws -> KeyValueCache { try makeCache(batch: batch, dtype: .float32) }

    /// Every row exact: the logits, and the first largest of each.
    public func nextTokenChoices(segments: [[Int]], caches: [KeyValueCache], exact: [Bool]) throws -> (logits: Tensor, choices: [Int]) {
        let logits = try nextTokenLogits(segments: segments, caches: caches).contiguous()
        return (logits, logits.firstLargestIndices())
    }
}

extension CausalLanguageModel {
    public func nextTokenLogits(segments: [[Int]], caches: [KeyValueCache]) throws -> Tensor {
        try checkStep(segments: segments, caches: caches)
        return try Tensor.cat(zip(segments, caches).map { segment, cache in
            try nextTokenLogits(Tensor(integers: segment, shape: [1, segment.count]), cache: cache, padding: nil)
        }, axis: 0)
    }

    /// Throws unless there is one non-empty, in-vocabulary segment per cache.
    func checkStep(segments: [[Int]], caches: [KeyValueCache]) throws {
        guard !segments.isEmpty, segments.count == caches.count, segments.allSatisfy({ !$0.isEmpty }) else {
            throw CortexError.invalidArgument(operation: "nextTokenLogits",
                                              reason: "\(segments.count) segments for \(caches.count) caches (one non-empty segment each, at least one)")
        }
        if let outside = segments.joined().first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw CortexError.indexOutOfRange(operation: "nextTokenLogits", index: outside, bound: vocabularySize)
        }
    }
}

extension CausalLanguageModel {
    /// `prompt` followed by `maxNewTokens` tokens drawn one at a time (the context cropped to the
    /// model's length); `onToken` sees each new token as it is produced.
    /// Stops early after a token in `stopTokens` (it is kept) or when `shouldStop` says so.
    /// `onLogits` sees the model's raw logits for each new position before a token is drawn.
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                         stopTokens: Set<Int> = [], generator: RandomGenerator = .default,
                         shouldStop: ([Int]) -> Bool = { _ in false }, onToken: (Int) -> Void = { _ in },
                         onLogits: ([Float]) -> Void = { _ in }) throws -> [Int] {
        guard !prompt.isEmpty else { throw CortexError.invalidArgument(operation: "generate", reason: "the prompt has no tokens") }
        guard maxNewTokens >= 0 else { throw CortexError.invalidArgument(operation: "generate", reason: "max new tokens \(maxNewTokens) is negative") }
        try sampling.validate()
        if let outside = prompt.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw CortexError.indexOutOfRange(operation: "generate", index: outside, bound: vocabularySize)
        }
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        var tokens = prompt
        try withNoGrad {
            // The prompt fills a key/value cache once; each new token then costs one position.
            // Past the context length the window slides and the cache is rebuilt from it.
            var cache = try makeCache(batch: 1)
            cache.reserve(prompt.count + maxNewTokens)
            var pending = Array(tokens.suffix(contextLength))
            for _ in 0..<maxNewTokens {
                if cache.length + pending.count > contextLength {
                    cache = try makeCache(batch: 1)
                    cache.reserve(contextLength)
                    pending = Array(tokens.suffix(contextLength - 1))
                }
                let last = try nextTokenLogits(Tensor(integers: pending, shape: [1, pending.count]), cache: cache, padding: nil).toFloatArray()
                onLogits(last)
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

extension CausalLanguageModel {
    /// Continues several prompts at once: they are left-padded to one length (padding takes no
    /// position and is never attended to), and each gets up to `maxNewTokens` new tokens,
    /// fewer when one of `stopTokens` ends it (the stop token is kept). Returns the new tokens
    /// of each prompt, as `generate(prompt:)` would for it alone.
    public func generate(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                         stopTokens: Set<Int> = [], generator: RandomGenerator = .default) throws -> [[Int]] {
        guard !prompts.isEmpty, prompts.allSatisfy({ !$0.isEmpty }) else {
            throw CortexError.invalidArgument(operation: "generate", reason: "every prompt needs at least one token")
        }
        try sampling.validate()
        let longest = prompts.map(\.count).max()!
        guard longest + maxNewTokens <= contextLength else {
            throw CortexError.invalidArgument(operation: "generate",
                                              reason: "\(longest) prompt tokens + \(maxNewTokens) new ones exceed the context of \(contextLength)")
        }
        if let outside = prompts.joined().first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw CortexError.indexOutOfRange(operation: "generate", index: outside, bound: vocabularySize)
        }
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        var produced = Array(repeating: [Int](), count: prompts.count)
        var finished = Array(repeating: false, count: prompts.count)
        try withNoGrad {
            let cache = try makeCache(batch: prompts.count)
            cache.reserve(longest + maxNewTokens)
            var ids = prompts.flatMap { Array(repeating: 0, count: longest - $0.count) + $0 }
            var padding: [[Bool]]? = prompts.map { Array(repeating: true, count: longest - $0.count) + Array(repeating: false, count: $0.count) }
            var steps = longest
            for _ in 0..<maxNewTokens where finished.contains(false) {
                let last = try nextTokenLogits(Tensor(integers: ids, shape: [prompts.count, steps]), cache: cache, padding: padding).toFloatArray()
                let vocabulary = vocabularySize
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
