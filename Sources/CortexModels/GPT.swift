import CCortexKernels
import CortexCore
import CortexNN
import CortexText
import Foundation

/// The shape of a GPT decoder, with Hugging Face's GPT-2 config names in its JSON form.
public struct GPTConfiguration: Codable, Sendable, Equatable {
    public var vocabularySize: Int
    public var contextLength: Int
    public var embeddingSize: Int
    public var layers: Int
    public var heads: Int
    public var dropout: Float
    public var layerNormEpsilon: Float

    public init(vocabularySize: Int, contextLength: Int, embeddingSize: Int, layers: Int, heads: Int, dropout: Float = 0.1,
                layerNormEpsilon: Float = 1e-5) {
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.embeddingSize = embeddingSize
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.layerNormEpsilon = layerNormEpsilon
    }

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", contextLength = "n_positions", embeddingSize = "n_embd", layers = "n_layer"
        case heads = "n_head", dropout = "resid_pdrop", layerNormEpsilon = "layer_norm_epsilon"
    }
}

/// A linear layer storing its weight as (in, out), as Hugging Face's GPT-2 `Conv1D` does.
public final class TransposedLinear: Module, Layer, @unchecked Sendable {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor

    /// Weight N(0, 0.02), bias 0 (GPT-2's initialisation); with `initialize` false the tensors
    /// are left unwritten, for a checkpoint to replace.
    public init(_ inFeatures: Int, _ outFeatures: Int, standardDeviation: Float = 0.02, initialize: Bool = true,
                generator: RandomGenerator = .default) {
        weight = try! gptParameter([inFeatures, outFeatures], standardDeviation: standardDeviation, initialize: initialize, generator: generator)
        bias = try! initialize ? Tensor.zeros([outFeatures]) : Tensor.empty([outFeatures])
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor { try input.matmul(weight) + bias }
}

extension TransposedLinear: LoRAAdaptable {
    public var inFeatures: Int { weight.shape[0] }
    public var outFeatures: Int { weight.shape[1] }
    public var storesWeightTransposed: Bool { true }

    /// Adds the update (out, in), transposed to the stored (in, out) layout (PEFT's
    /// `fan_in_fan_out`).
    public func merging(_ delta: Tensor) throws -> Module & Layer {
        guard delta.shape == [outFeatures, inFeatures] else {
            throw CortexError.shapeMismatch(operation: "TransposedLinear.merging", shapes: [delta.shape, weight.shape],
                                            reason: "(the update must be (out, in) for a weight stored (in, out))")
        }
        let trainable = weight.requiresGrad
        try withNoGrad { weight = try (weight.detach() + delta.mT.to(weight.dtype)).contiguous() }
        var updated = weight
        updated.requiresGrad = trainable
        return self
    }
}

/// GPT-2's decoder (pre-norm blocks of causal self-attention and a GELU MLP, learned position
/// embeddings, final layer norm, output projection tied to the token embedding), with Hugging
/// Face's parameter names (`transformer.h.0.attn.c_attn.weight`, ...), so its checkpoints are
/// GPT-2 checkpoints.
///
/// ```swift
/// let model = GPT(GPTConfiguration(vocabularySize: 65, contextLength: 128, embeddingSize: 128, layers: 4, heads: 4))
/// let logits = try model(ids)            // (B, T) int64 -> (B, T, 65)
/// ```
public final class GPT: Module, CausalLanguageModel, Layer, @unchecked Sendable {
    public let configuration: GPTConfiguration
    public let transformer: GPTBody

    /// A GPT with GPT-2's initialisation, or with its tensors left unwritten (`initialize`
    /// false) when a checkpoint is about to replace them.
    public init(_ configuration: GPTConfiguration, initialize: Bool = true, generator: RandomGenerator = .default) {
        self.configuration = configuration
        transformer = GPTBody(configuration, initialize: initialize, generator: generator)
        super.init()
    }

    /// A GPT from loaded parts (a GGUF file's quantised layers).
    init(configuration: GPTConfiguration, transformer: GPTBody) {
        self.configuration = configuration
        self.transformer = transformer
        super.init()
    }

    /// Training FLOPs per token of a sequence of `sequenceLength` tokens by PaLM's appendix B
    /// (as nanoGPT's `estimate_mfu`): 6·N + 12·L·H·Q·T, where N counts every parameter but the
    /// position embedding (the token embedding is also the output projection, a product) and
    /// H·Q is the width. Forward plus backward; ``CortexCore/FLOPCounter`` counts the same
    /// products as they run, plus the element-wise work the formula leaves out.
    public func analyticTrainingFLOPsPerToken(sequenceLength: Int) -> Double {
        let positions = transformer.wpe.weight.count
        let parameters = Double(parameterCount() - positions)
        let (layers, width) = (Double(configuration.layers), Double(configuration.embeddingSize))
        return 6 * parameters + 12 * layers * width * Double(sequenceLength)
    }

    /// Logits (B, T, vocabulary) for token ids (B, T).
    public func forward(_ ids: Tensor) throws -> Tensor {
        try transformer.logits(transformer(ids, cache: nil))
    }

    /// Logits for `ids` (B, T) that continue the sequences held in `cache`, whose keys and values
    /// grow by T; only the new positions are computed.
    ///
    /// `padding` (B × T, true for padding) marks left-padded positions of a batch of prompts:
    /// they take no position and no query attends to them, now or in later steps.
    public func callAsFunction(_ ids: Tensor, cache: KeyValueCache, padding: [[Bool]]? = nil) throws -> Tensor {
        try transformer.logits(transformer(ids, cache: cache, padding: padding))
    }

    public var vocabularySize: Int { configuration.vocabularySize }
    public var contextLength: Int { configuration.contextLength }

    /// Logits (B, vocabulary) of the last position only: the output projection, the largest
    /// product of a decoding step, skips the others.
    public func nextTokenLogits(_ ids: Tensor, cache: KeyValueCache, padding: [[Bool]]?) throws -> Tensor {
        let hidden = try transformer(ids, cache: cache, padding: padding)
        return try transformer.logits(hidden.select(axis: 1, index: ids.shape[1] - 1))
    }

    /// An empty cache for `batch` sequences of up to the context length.
    public func makeCache(batch: Int = 1, dtype: DType = .float32) throws -> KeyValueCache {
        try KeyValueCache(layers: configuration.layers, batch: batch, heads: configuration.heads,
                          length: configuration.contextLength, headSize: configuration.embeddingSize / configuration.heads, dtype: dtype)
    }

    /// Mean cross-entropy of predicting `targets` (B, T) from `ids` (B, T).
    public func loss(_ ids: Tensor, targets: Tensor) throws -> Tensor {
        let logits = try self(ids)
        return try Loss.crossEntropy(logits.reshape([-1, configuration.vocabularySize]), targets: targets.reshape([-1]))
    }

    /// The mean loss over `batches` windows drawn from `tokens` by a generator seeded with
    /// `seed` (the same windows every call), in evaluation mode and without gradients.
    public func evaluationLoss(on tokens: TokenSequence, batches: Int, batchSize: Int, length: Int, seed: UInt64 = 1234) throws -> Float {
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        let generator = RandomGenerator(seed: seed)
        return try withNoGrad {
            var total: Float = 0
            for _ in 0..<batches {
                let (x, y) = try tokens.randomBatch(batchSize: batchSize, length: min(length, configuration.contextLength), generator: generator)
                total += try loss(x, targets: y).item()
            }
            return total / Float(max(batches, 1))
        }
    }
}

public final class GPTBody: Module, @unchecked Sendable {
    /// The token embedding (an ``Embedding``, or a ``QuantizedEmbedding`` from a GGUF file),
    /// also the tied output projection.
    public let wte: Module & Layer
    public let wpe: Embedding
    let drop: Dropout
    public let h: [GPTBlock]
    public let lnF: LayerNorm

    init(_ configuration: GPTConfiguration, initialize: Bool, generator: RandomGenerator) {
        // GPT-2's initialisation: normal(0, 0.02) token and normal(0, 0.01) position embeddings.
        wte = Embedding(weight: try! gptParameter([configuration.vocabularySize, configuration.embeddingSize], standardDeviation: 0.02,
                                                  initialize: initialize, generator: generator))
        wpe = Embedding(weight: try! gptParameter([configuration.contextLength, configuration.embeddingSize], standardDeviation: 0.01,
                                                  initialize: initialize, generator: generator))
        drop = Dropout(configuration.dropout, generator: generator)
        h = (0..<configuration.layers).map { _ in GPTBlock(configuration, initialize: initialize, generator: generator) }
        lnF = LayerNorm([configuration.embeddingSize], epsilon: configuration.layerNormEpsilon)
        super.init()
    }

    init(wte: Module & Layer, wpe: Embedding, h: [GPTBlock], lnF: LayerNorm) {
        self.wte = wte
        self.wpe = wpe
        drop = Dropout(0)
        self.h = h
        self.lnF = lnF
        super.init()
    }

    /// Logits from final hidden states through the tied token embedding; a quantised one takes
    /// ``QuantizedMatrix/outputActivations``, as Llama's output projection does.
    func logits(_ hidden: Tensor) throws -> Tensor {
        switch wte {
        case let embedding as Embedding:
            return try hidden.matmul(embedding.weight.mT)
        case let embedding as QuantizedEmbedding:
            return try QuantizedMatrix.$activations.withValue(QuantizedMatrix.outputActivations) { try embedding.matrix.product(hidden) }
        default:
            throw CortexError.invalidArgument(operation: "GPT", reason: "the tied output needs an Embedding or QuantizedEmbedding")
        }
    }

    func callAsFunction(_ ids: Tensor, cache: KeyValueCache?, padding: [[Bool]]? = nil) throws -> Tensor {
        let past = cache?.length ?? 0
        guard ids.rank == 2, ids.shape[1] >= 1, past + ids.shape[1] <= wpe.weight.shape[0] else {
            throw CortexError.shapeMismatch(operation: "GPT", shapes: [ids.shape],
                                            reason: "(ids must be (B, T) with \(past) cached + T positions at most the context length \(wpe.weight.shape[0]))")
        }
        let steps = ids.shape[1]
        var positions = try Tensor.arange(Double(past), Double(past + steps), dtype: .int64)
        var allowed: Tensor?
        if let cache { (positions, allowed) = try cache.advance(ids: ids, padding: padding) }
        var x = try drop(wte(ids) + wpe(positions))
        for (index, block) in h.enumerated() { x = try block(x, cache: cache, layer: index, allowed: allowed) }
        cache?.commit(steps: steps)
        return try lnF(x)
    }
}

public final class GPTBlock: Module, @unchecked Sendable {
    let firstNorm: LayerNorm, attention: GPTAttention, secondNorm: LayerNorm, feedForward: GPTMLP

    init(_ configuration: GPTConfiguration, initialize: Bool, generator: RandomGenerator) {
        firstNorm = LayerNorm([configuration.embeddingSize], epsilon: configuration.layerNormEpsilon)
        attention = GPTAttention(configuration, initialize: initialize, generator: generator)
        secondNorm = LayerNorm([configuration.embeddingSize], epsilon: configuration.layerNormEpsilon)
        feedForward = GPTMLP(configuration, initialize: initialize, generator: generator)
        super.init()
    }

    init(firstNorm: LayerNorm, attention: GPTAttention, secondNorm: LayerNorm, feedForward: GPTMLP) {
        self.firstNorm = firstNorm
        self.attention = attention
        self.secondNorm = secondNorm
        self.feedForward = feedForward
        super.init()
    }

    override public func namedChildren() -> [(String, Module)] {
        [("ln_1", firstNorm), ("attn", attention), ("ln_2", secondNorm), ("mlp", feedForward)]
    }

    func callAsFunction(_ x: Tensor, cache: KeyValueCache?, layer: Int, allowed: Tensor? = nil) throws -> Tensor {
        let y = try x + attention(firstNorm(x), cache: cache, layer: layer, allowed: allowed)
        return try y + feedForward(secondNorm(y))
    }
}

public final class GPTAttention: Module, @unchecked Sendable {
    /// The fused query/key/value projection and the output projection: ``TransposedLinear``s,
    /// or ``QuantizedLinear``s from a GGUF file.
    private(set) var cAttn: Module & Layer, cProj: Module & Layer
    let attentionDropout: Dropout, residualDropout: Dropout
    let heads: Int, dropout: Float

    init(_ configuration: GPTConfiguration, initialize: Bool, generator: RandomGenerator) {
        let size = configuration.embeddingSize
        cAttn = TransposedLinear(size, 3 * size, initialize: initialize, generator: generator)
        // GPT-2 scales the residual projections' initialisation by 1/sqrt(2 * layers).
        cProj = TransposedLinear(size, size, standardDeviation: 0.02 / Float(2 * configuration.layers).squareRoot(),
                                 initialize: initialize, generator: generator)
        attentionDropout = Dropout(configuration.dropout, generator: generator)
        residualDropout = Dropout(configuration.dropout, generator: generator)
        heads = configuration.heads
        dropout = configuration.dropout
        super.init()
    }

    init(cAttn: Module & Layer, cProj: Module & Layer, heads: Int) {
        self.cAttn = cAttn
        self.cProj = cProj
        attentionDropout = Dropout(0)
        residualDropout = Dropout(0)
        self.heads = heads
        dropout = 0
        super.init()
    }

    func callAsFunction(_ x: Tensor, cache: KeyValueCache?, layer: Int, allowed: Tensor? = nil) throws -> Tensor {
        let (batch, steps, size) = (x.shape[0], x.shape[1], x.shape[2])
        let d = size / heads
        let qkv = try cAttn(x)
        if let cache, batch == 1, allowed == nil, fusedInferenceApplies(to: [qkv]), qkv.isContiguous, !Attention.isRecording {
            return try cachedAttention(qkv, cache: cache, layer: layer)
        }
        func headsOf(_ part: Int) throws -> Tensor {
            try qkv.slice(axis: 2, start: part * size, end: (part + 1) * size).reshape([batch, steps, heads, d]).permute([0, 2, 1, 3])
        }
        var (keys, values) = (try headsOf(1), try headsOf(2))
        var offset = 0
        if let cache {
            (keys, values) = try cache.appendAsFloat(layer: layer, keys: keys, values: values)
            offset = cache.length
        }
        // `allowed` (padded batches) already holds the causal rule.
        let attended = try Attention.scaledDotProduct(query: headsOf(0), key: keys, value: values, allowed: allowed, causal: allowed == nil,
                                                      causalOffset: offset, dropout: isTraining ? dropout : 0)
        return try residualDropout(cProj(attended.permute([0, 2, 1, 3]).reshape([batch, steps, size])))
    }
}

extension GPTAttention {
    /// Inference over a single sequence's cache: the new keys and values appended, then one
    /// fused kernel per head attends its query rows to the cache (no score matrices or masks),
    /// as Llama's decoding step does.
    func cachedAttention(_ qkv: Tensor, cache: KeyValueCache, layer: Int) throws -> Tensor {
        let (steps, size) = (qkv.shape[1], qkv.shape[2] / 3)
        let d = size / heads
        func headsOf(_ part: Int) throws -> Tensor {
            try qkv.slice(axis: 2, start: part * size, end: (part + 1) * size).reshape([1, steps, heads, d]).permute([0, 2, 1, 3])
        }
        let offset = cache.length
        let (keys, values) = try cache.append(layer: layer, keys: headsOf(1), values: headsOf(2))
        let output = try Tensor.empty([1, steps, heads, d])
        let scale = 1 / Float(d).squareRoot()
        let headCount = heads
        FLOPCounter.recordCachedAttention(heads: heads, headSize: d, queries: steps, offset: offset)
        let pointers = UncheckedPointer((query: qkv.storage.pointer.assumingMemoryBound(to: Float.self) + qkv.layout.offset,
                                         keys: HeldRows(keys), values: HeldRows(values),
                                         output: output.storage.pointer.assumingMemoryBound(to: Float.self),
                                         keyStrides: keys.layout.strides, valueStrides: values.layout.strides))
        CPUParallelism.forEachRange(headCount, grain: 1) { items in
            let p = pointers.value
            for head in items {
                let (headKeys, headValues) = (p.keys.advanced(by: head * p.keyStrides[1]), p.values.advanced(by: head * p.valueStrides[1]))
                HeldRows.attend(query: p.query + head * d, queryStride: 3 * size, keys: headKeys, values: headValues, rowStride: p.keyStrides[2],
                                output: p.output + head * d, outputStride: headCount * d, rows: steps, offset: offset, size: d, scale: scale)
            }
        }
        withExtendedLifetime((qkv, keys, values)) {}
        return try residualDropout(cProj(output.reshape([1, steps, size])))
    }
}

public final class GPTMLP: Module, @unchecked Sendable {
    private(set) var cFc: Module & Layer, cProj: Module & Layer
    let dropout: Dropout

    init(_ configuration: GPTConfiguration, initialize: Bool, generator: RandomGenerator) {
        let size = configuration.embeddingSize
        cFc = TransposedLinear(size, 4 * size, initialize: initialize, generator: generator)
        cProj = TransposedLinear(4 * size, size, standardDeviation: 0.02 / Float(2 * configuration.layers).squareRoot(),
                                 initialize: initialize, generator: generator)
        dropout = Dropout(configuration.dropout, generator: generator)
        super.init()
    }

    init(cFc: Module & Layer, cProj: Module & Layer) {
        self.cFc = cFc
        self.cProj = cProj
        dropout = Dropout(0)
        super.init()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor { try dropout(cProj(cFc(x).gelu(approximate: .tanh))) }
}

/// N(0, standardDeviation) written straight into the tensor, or unwritten memory.
func gptParameter(_ shape: [Int], standardDeviation: Float, initialize: Bool, generator: RandomGenerator) throws -> Tensor {
    initialize ? try Tensor.randn(shape, standardDeviation: standardDeviation, generator: generator) : try Tensor.empty(shape)
}

extension TransposedLinear: PerSampleGradientLayer {
    /// Weight (in, out): each example's activations^T times its output gradients, (B, in, out);
    /// bias: the output gradient summed over positions.
    public func perSampleGradients(input: Tensor, outputGradient: Tensor) throws -> [String: Tensor] {
        let batch = try PerSampleGradients.batchSize(input, outputGradient, layer: "TransposedLinear")
        let activations = try input.reshape([batch, -1, weight.shape[0]])
        let gradients = try outputGradient.reshape([batch, -1, weight.shape[1]])
        var result: [String: Tensor] = [:]
        if weight.requiresGrad { result["weight"] = try PerSampleGradients.outerProductSums(activations, gradients) }
        if bias.requiresGrad { result["bias"] = try gradients.sum(axes: [1]) }
        return result
    }
}

extension GPTAttention: ChildReplacing {
    public func replaceChild(named name: String, with module: Module & Layer) throws {
        switch name {
        case "c_attn": cAttn = module
        case "c_proj": cProj = module
        default: throw noReplaceableChild(name, among: ["c_attn", "c_proj"])
        }
    }
}

extension GPTMLP: ChildReplacing {
    public func replaceChild(named name: String, with module: Module & Layer) throws {
        switch name {
        case "c_fc": cFc = module
        case "c_proj": cProj = module
        default: throw noReplaceableChild(name, among: ["c_fc", "c_proj"])
        }
    }
}
