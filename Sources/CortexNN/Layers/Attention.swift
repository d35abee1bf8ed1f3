import CortexCore

/// Scaled dot-product attention as `F.scaled_dot_product_attention`.
public enum Attention {
    /// softmax(Q K^T * scale + mask) V over the last two axes, leading axes batched.
    ///
    /// `allowed` is a boolean mask (broadcast to (..., L, S)) where true marks the pairs that
    /// take part, as PyTorch's SDPA reads a boolean `attn_mask`; `bias` is added to the scores
    /// (a float mask); `causal` lets query i see keys 0...i only. A query row with no allowed key
    /// gives NaN, as in PyTorch.
    ///
    /// ```swift
    /// let y = try Attention.scaledDotProduct(query: q, key: k, value: v, causal: true)   // (B, h, T, d)
    /// ```
    ///
    /// With a key/value cache the queries are the last L of S positions: `causalOffset` S - L
    /// lets query i see keys 0...i + offset.
    public static func scaledDotProduct(query: Tensor, key: Tensor, value: Tensor, allowed: Tensor? = nil, bias: Tensor? = nil,
                                        causal: Bool = false, causalOffset: Int = 0, dropout: Float = 0, scale: Float? = nil,
                                        generator: RandomGenerator = .default) throws -> Tensor {
        try weightsAndOutput(query: query, key: key, value: value, allowed: allowed, bias: bias, causal: causal, causalOffset: causalOffset,
                             dropout: dropout, scale: scale, generator: generator).output
    }

    static func weightsAndOutput(query: Tensor, key: Tensor, value: Tensor, allowed: Tensor?, bias: Tensor?, causal: Bool,
                                 causalOffset: Int = 0, dropout: Float, scale: Float?,
                                 generator: RandomGenerator) throws -> (weights: Tensor, output: Tensor) {
        guard query.rank >= 2, key.rank >= 2, value.rank >= 2, query.shape.last == key.shape.last,
              key.shape[key.rank - 2] == value.shape[value.rank - 2] else {
            throw CortexError.shapeMismatch(operation: "scaledDotProductAttention", shapes: [query.shape, key.shape, value.shape],
                                            reason: "(query (..., L, E), key (..., S, E) and value (..., S, Ev) disagree)")
        }
        let factor = scale ?? 1 / Float(query.shape[query.rank - 1]).squareRoot()
        var scores = try query.matmul(key.mT) * factor
        let (queries, keys) = (query.shape[query.rank - 2], key.shape[key.rank - 2])
        // When even the first query sees every key (one new token after a cache) there is no mask.
        if causal && causalOffset < keys - 1 {
            // An additive (L, S) bias of 0 and -inf: one vectorised broadcast add over the scores
            // instead of an element-wise select, with the same values and gradients.
            let bias = (0..<queries).flatMap { i in (0..<keys).map { j -> Float in j <= i + causalOffset ? 0 : -.infinity } }
            scores = try scores + Tensor(bias, shape: [queries, keys], device: query.device)
        }
        if let allowed { scores = try Tensor.where(allowed, scores, negativeInfinity(query.device)) }
        if let bias { scores = try scores + bias }
        var weights = try scores.softmax(axis: -1)
        try record(weights)
        let attended = dropout > 0 ? try weights * (Tensor.bernoulli(weights.shape, probability: 1 - dropout, generator: generator)
                                                     * (1 / (1 - dropout))) : weights
        let output = try attended.matmul(value)
        if dropout > 0 { weights = attended }
        return (weights, output)
    }

    /// (L, S) booleans, true where key j is visible to query i: j <= i + offset (PyTorch's
    /// causal mask is offset 0).
    public static func causalMask(_ queries: Int, _ keys: Int, offset: Int = 0, device: Device = .cpu) throws -> Tensor {
        try Tensor(booleans: (0..<queries).flatMap { i in (0..<keys).map { j in j <= i + offset } }, shape: [queries, keys], device: device)
    }

    static func negativeInfinity(_ device: Device) throws -> Tensor { try Tensor.full([], value: -.infinity, device: device) }
}

/// Multi-head attention as `nn.MultiheadAttention`, with its parameter layout: the query, key
/// and value projections stacked in `in_proj_weight` (3E, E) and `in_proj_bias`, the output
/// projection in `out_proj`. Boolean masks mark what is *blocked* (PyTorch's MHA convention):
/// `keyPaddingMask` (N, S) true for padding keys, `attentionMask` (L, S) or (N * heads, L, S)
/// true for blocked pairs; float masks are added to the scores.
///
/// ```swift
/// let attention = MultiheadAttention(512, heads: 8, batchFirst: true)
/// let (y, weights) = try attention(x, x, x, keyPaddingMask: padding)
/// ```
public final class MultiheadAttention: Module, @unchecked Sendable {
    @Parameter public var inProjWeight: Tensor
    @Parameter public var inProjBias: Tensor?
    public let outProj: Linear
    public let embedDimension: Int, heads: Int, batchFirst: Bool
    public let dropout: Float
    private let generator: RandomGenerator
    /// Set by ``PerSampleGradients``: receives each example's gradients of the input
    /// projection (`in_proj_weight`, `in_proj_bias`), one projection (query, key, value) at a time.
    var perSampleRecorder: (([String: Tensor]) throws -> Void)?

    public init(_ embedDimension: Int, heads: Int, dropout: Float = 0, bias: Bool = true, batchFirst: Bool = false,
                generator: RandomGenerator = .default) {
        precondition(heads > 0 && embedDimension % heads == 0, "embedDimension \(embedDimension) must be divisible by heads \(heads)")
        self.embedDimension = embedDimension
        self.heads = heads
        self.batchFirst = batchFirst
        self.dropout = dropout
        self.generator = generator
        self.inProjWeight = try! Initializers.xavierUniform([3 * embedDimension, embedDimension], generator: generator)
        self.inProjBias = bias ? try! Tensor.zeros([3 * embedDimension]) : nil
        self.outProj = Linear(embedDimension, embedDimension, bias: bias, generator: generator)
        super.init()
        if let outBias = outProj.bias { try! withNoGrad { try outBias.copy(from: Tensor.zeros(outBias.shape)) } }
    }

    /// `projected` with its gradient turned, during backward, into each example's gradients of
    /// the rows `part` of the stacked input projection (zero elsewhere): (N, 3E, E) and (N, 3E).
    private func observeProjection(_ projected: Tensor, input: Tensor, part: Int, recorder: @escaping ([String: Tensor]) throws -> Void) -> Tensor {
        let saved = input.detach()
        let (weight, bias, E) = (inProjWeight, inProjBias, embedDimension)
        return projected.observingGradient { gradient in
            let batch = saved.shape[0]
            func placed(_ rows: Tensor, axis: Int) throws -> Tensor {
                var pieces: [Tensor] = []
                var shape = rows.shape
                shape[axis] = part * E
                if part > 0 { pieces.append(try Tensor.zeros(shape)) }
                pieces.append(rows)
                shape[axis] = (2 - part) * E
                if part < 2 { pieces.append(try Tensor.zeros(shape)) }
                return try Tensor.cat(pieces, axis: axis)
            }
            var result: [String: Tensor] = [:]
            let (g, a) = (try gradient.reshape([batch, -1, E]), try saved.reshape([batch, -1, E]))
            if weight.requiresGrad { result["in_proj_weight"] = try placed(PerSampleGradients.outerProductSums(g, a), axis: 1) }
            if let bias, bias.requiresGrad { result["in_proj_bias"] = try placed(g.sum(axes: [1]), axis: 1) }
            try recorder(result)
        }
    }

    /// Attention of `query` over `key`/`value`: (L, N, E) and (S, N, E), or batch-first (N, L, E)
    /// and (N, S, E). Returns the output shaped as `query` and, when `needWeights`, the
    /// attention weights (N, L, S) averaged over heads, or (N, heads, L, S).
    public func callAsFunction(_ query: Tensor, _ key: Tensor, _ value: Tensor, keyPaddingMask: Tensor? = nil,
                               attentionMask: Tensor? = nil, causal: Bool = false, needWeights: Bool = true,
                               averageWeights: Bool = true) throws -> (output: Tensor, weights: Tensor?) {
        guard query.rank == 3, key.rank == 3, value.rank == 3, query.shape[2] == embedDimension,
              key.shape[2] == embedDimension, value.shape[2] == embedDimension else {
            throw CortexError.shapeMismatch(operation: "MultiheadAttention", shapes: [query.shape, key.shape, value.shape],
                                            reason: "(query, key and value must be rank 3 with \(embedDimension) features)")
        }
        let (q, k, v) = batchFirst ? (query, key, value) : (try query.transpose(0, 1), try key.transpose(0, 1), try value.transpose(0, 1))
        let (batch, targets, sources, E, d) = (q.shape[0], q.shape[1], k.shape[1], embedDimension, embedDimension / heads)
        func project(_ x: Tensor, _ part: Int) throws -> Tensor {
            var y = try x.matmul(inProjWeight.slice(axis: 0, start: part * E, end: (part + 1) * E).mT)
            if let inProjBias { y = try y + inProjBias.slice(axis: 0, start: part * E, end: (part + 1) * E) }
            if let recorder = perSampleRecorder, y.requiresGrad { y = observeProjection(y, input: x, part: part, recorder: recorder) }
            // (N, T, E) -> (N, heads, T, d)
            return try y.reshape([batch, x.shape[1], heads, d]).permute([0, 2, 1, 3])
        }
        let (projectedQuery, projectedKey, projectedValue) = (try project(q, 0), try project(k, 1), try project(v, 2))
        // Blocked pairs, as one boolean (N, heads or 1, L, S) mask where true = blocked.
        var blocked: Tensor?, bias: Tensor?
        if let keyPaddingMask {
            guard keyPaddingMask.shape == [batch, sources] else {
                throw CortexError.shapeMismatch(operation: "MultiheadAttention", shapes: [keyPaddingMask.shape, [batch, sources]],
                                                reason: "(key padding mask must be (N, S))")
            }
            blocked = try keyPaddingMask.reshape([batch, 1, 1, sources])
        }
        if let attentionMask {
            let shaped: Tensor
            switch attentionMask.shape {
            case [targets, sources]: shaped = attentionMask
            case [batch * heads, targets, sources]: shaped = try attentionMask.reshape([batch, heads, targets, sources])
            default:
                throw CortexError.shapeMismatch(operation: "MultiheadAttention", shapes: [attentionMask.shape, [targets, sources]],
                                                reason: "(attention mask must be (L, S) or (N * heads, L, S))")
            }
            if shaped.dtype == .bool {
                blocked = try blocked.map { try $0.logicalOr(shaped) } ?? shaped
            } else {
                bias = shaped
            }
        }
        let allowed = try blocked.map { try $0.logicalNot() }
        let (weights, attended) = try Attention.weightsAndOutput(query: projectedQuery, key: projectedKey, value: projectedValue,
                                                                 allowed: allowed, bias: bias, causal: causal,
                                                                 dropout: isTraining ? dropout : 0, scale: nil, generator: generator)
        // (N, heads, L, d) -> (N, L, E)
        var output = try outProj(attended.permute([0, 2, 1, 3]).reshape([batch, targets, E]))
        if !batchFirst { output = try output.transpose(0, 1) }
        guard needWeights else { return (output, nil) }
        return (output, averageWeights ? try weights.mean(axes: [1]) : weights)
    }
}
