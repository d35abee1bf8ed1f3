import CortexCore
import CortexNN
import CortexText
import Foundation

/// Sentence embeddings as sentence-transformers computes them: a BERT encoder, then the
/// pooling its `1_Pooling/config.json` declares (mean over real tokens, [CLS], max, or mean
/// scaled by √length), then L2 normalisation where `modules.json` lists a Normalize module.
/// Sentences are cut at the model's `max_seq_length` (sentence_bert_config.json).
///
/// ```swift
/// let embedder = try SentenceEmbedder.load(directory: "all-MiniLM-L6-v2")
/// let vectors = try embedder.embed(["A man is eating food.", "A man is riding a horse."])  // (2, 384)
/// let similarity = try SentenceEmbedder.cosineSimilarity(vectors, vectors)                 // (2, 2)
/// ```
public final class SentenceEmbedder: @unchecked Sendable {
    public enum Pooling: String, Sendable { case mean, cls, max, meanSquareRootLength }

    public let model: BERT
    public let tokenizer: WordPieceTokenizer
    public let pooling: Pooling
    public let normalize: Bool
    public let maximumLength: Int

    public init(model: BERT, tokenizer: WordPieceTokenizer, pooling: Pooling = .mean, normalize: Bool = true, maximumLength: Int? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.maximumLength = min(maximumLength ?? model.configuration.maximumPositions, model.configuration.maximumPositions)
    }

    public var dimension: Int { model.configuration.hiddenSize }

    /// Loads a sentence-transformers directory (or a plain BERT directory: mean pooling and
    /// normalisation are then assumed, as for all-MiniLM-L6-v2).
    public static func load(directory: String) throws -> SentenceEmbedder {
        func json(_ name: String) -> Any? {
            FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(name))
                .flatMap { try? JSONSerialization.jsonObject(with: $0) }
        }
        var pooling = Pooling.mean
        if let config = json("1_Pooling/config.json") as? [String: Any] {
            if config["pooling_mode_cls_token"] as? Bool == true { pooling = .cls }
            else if config["pooling_mode_max_tokens"] as? Bool == true { pooling = .max }
            else if config["pooling_mode_mean_sqrt_len_tokens"] as? Bool == true { pooling = .meanSquareRootLength }
            else if config["pooling_mode_mean_tokens"] as? Bool != true {
                throw CortexError.invalidFile(path: directory + "/1_Pooling/config.json", reason: "declares no pooling mode Cortex supports")
            }
        }
        var normalize = true
        if let modules = json("modules.json") as? [[String: Any]] {
            normalize = modules.contains { ($0["type"] as? String)?.hasSuffix("Normalize") == true }
        }
        let maximumLength = (json("sentence_bert_config.json") as? [String: Any])?["max_seq_length"] as? Int
        return SentenceEmbedder(model: try BERT.load(directory: directory), tokenizer: try WordPieceTokenizer.load(directory: directory),
                                pooling: pooling, normalize: normalize, maximumLength: maximumLength)
    }

    /// Embeddings (N, dimension) of `sentences`, computed in batches of `batchSize` sentences
    /// of similar length (padding masked out of attention and pooling).
    public func embed(_ sentences: [String], batchSize: Int = 32) throws -> Tensor {
        guard batchSize > 0 else { throw CortexError.invalidArgument(operation: "SentenceEmbedder.embed", reason: "batch size \(batchSize) must be positive") }
        guard !sentences.isEmpty else { return try Tensor.zeros([0, dimension]) }
        let encoded = sentences.map { tokenizer.encode($0, maxLength: maximumLength) }
        let order = encoded.indices.sorted { encoded[$0].count > encoded[$1].count }
        var pieces: [Tensor] = []
        try withNoGrad {
            for start in stride(from: 0, to: order.count, by: batchSize) {
                let members = order[start..<min(start + batchSize, order.count)]
                let longest = members.map { encoded[$0].count }.max()!
                let ids = members.flatMap { encoded[$0] + Array(repeating: tokenizer.paddingId, count: longest - encoded[$0].count) }
                let mask = members.map { Array(repeating: true, count: encoded[$0].count) + Array(repeating: false, count: longest - encoded[$0].count) }
                let hidden = try model(Tensor(integers: ids, shape: [members.count, longest]), attentionMask: mask)
                pieces.append(try pool(hidden, mask: mask))
            }
        }
        let sorted = try Tensor.cat(pieces, axis: 0)
        var inverse = [Int](repeating: 0, count: order.count)
        for (position, index) in order.enumerated() { inverse[index] = position }
        return try sorted.indexSelect(axis: 0, indices: Tensor(integers: inverse, shape: [inverse.count]))
    }

    /// Pools hidden states (B, L, hidden) into sentence embeddings (B, hidden) over the tokens
    /// `mask` marks, normalised when the model says so; differentiable.
    public func pool(_ hidden: Tensor, mask: [[Bool]]) throws -> Tensor {
        let (batch, length) = (hidden.shape[0], hidden.shape[1])
        let weights = try Tensor(mask.flatMap { $0.map { $0 ? Float(1) : 0 } }, shape: [batch, length, 1])
        let pooled: Tensor
        switch pooling {
        case .cls:
            pooled = try hidden.select(axis: 1, index: 0)
        case .max:
            pooled = try Tensor.where(Tensor(booleans: mask.flatMap { $0 }, shape: [batch, length, 1]), hidden,
                                      Tensor.full([], value: -1e9)).max(axis: 1).values
        case .mean, .meanSquareRootLength:
            let counts = try weights.sum(axes: [1]).clamp(min: 1e-9)
            pooled = try (hidden * weights).sum(axes: [1]) / (pooling == .mean ? counts : counts.sqrt())
        }
        return normalize ? try SentenceEmbedder.unitRows(pooled) : pooled
    }

    /// Cosine similarities (N, M) between the rows of `a` (N, D) and `b` (M, D).
    public static func cosineSimilarity(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try unitRows(a).matmul(unitRows(b).mT)
    }

    /// Each row of `x` (N, D) divided by its L2 norm (at least 1e-12), as F.normalize.
    static func unitRows(_ x: Tensor) throws -> Tensor {
        try x / x.square().sum(axes: [1], keepDimensions: true).sqrt().clamp(min: 1e-12)
    }
}
