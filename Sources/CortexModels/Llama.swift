import CCortexKernels
import CortexCore
import CortexNN
import Foundation

/// The shape of a Llama-family decoder, with Hugging Face's `LlamaConfig` names in its JSON form.
public struct LlamaConfiguration: Codable, Sendable, Equatable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var keyValueHeads: Int
    public var headSize: Int
    public var contextLength: Int
    public var rmsNormEpsilon: Float
    public var ropeTheta: Double
    public var ropeScaling: RotaryEmbedding.Scaling?
    public var tieWordEmbeddings: Bool

    public init(vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, keyValueHeads: Int? = nil,
                headSize: Int? = nil, contextLength: Int, rmsNormEpsilon: Float = 1e-6, ropeTheta: Double = 10_000,
                ropeScaling: RotaryEmbedding.Scaling? = nil, tieWordEmbeddings: Bool = false) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.keyValueHeads = keyValueHeads ?? heads
        self.headSize = headSize ?? hiddenSize / max(heads, 1)
        self.contextLength = contextLength
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.tieWordEmbeddings = tieWordEmbeddings
    }

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case layers = "num_hidden_layers", heads = "num_attention_heads", keyValueHeads = "num_key_value_heads", headSize = "head_dim"
        case contextLength = "max_position_embeddings", rmsNormEpsilon = "rms_norm_eps", ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling", tieWordEmbeddings = "tie_word_embeddings", ropeParameters = "rope_parameters"
    }

    enum ScalingKeys: String, CodingKey {
        case type, ropeType = "rope_type", factor, lowFrequencyFactor = "low_freq_factor", highFrequencyFactor = "high_freq_factor"
        case originalContextLength = "original_max_position_embeddings", ropeTheta = "rope_theta"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let heads = try container.decode(Int.self, forKey: .heads)
        let hiddenSize = try container.decode(Int.self, forKey: .hiddenSize)
        var theta = try container.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? 10_000
        var scaling: RotaryEmbedding.Scaling?
        // transformers 4 writes rope_scaling; transformers 5 writes rope_parameters (theta inside).
        for key in [CodingKeys.ropeScaling, .ropeParameters] where container.contains(key) {
            if try container.decodeNil(forKey: key) { continue }
            let parameters = try container.nestedContainer(keyedBy: ScalingKeys.self, forKey: key)
            if let value = try parameters.decodeIfPresent(Double.self, forKey: .ropeTheta) { theta = value }
            let type = try parameters.decodeIfPresent(String.self, forKey: .ropeType) ?? parameters.decodeIfPresent(String.self, forKey: .type) ?? "default"
            switch type {
            case "default": break
            case "linear": scaling = .linear(factor: try parameters.decode(Double.self, forKey: .factor))
            case "llama3":
                scaling = .llama3(factor: try parameters.decode(Double.self, forKey: .factor),
                                  lowFrequencyFactor: try parameters.decode(Double.self, forKey: .lowFrequencyFactor),
                                  highFrequencyFactor: try parameters.decode(Double.self, forKey: .highFrequencyFactor),
                                  originalContextLength: try parameters.decode(Int.self, forKey: .originalContextLength))
            default:
                throw CortexError.invalidArgument(operation: "LlamaConfiguration", reason: "rope scaling \"\(type)\" is not supported (linear, llama3 are)")
            }
        }
        self.init(vocabularySize: try container.decode(Int.self, forKey: .vocabularySize), hiddenSize: hiddenSize,
                  intermediateSize: try container.decode(Int.self, forKey: .intermediateSize),
                  layers: try container.decode(Int.self, forKey: .layers), heads: heads,
                  keyValueHeads: try container.decodeIfPresent(Int.self, forKey: .keyValueHeads),
                  headSize: try container.decodeIfPresent(Int.self, forKey: .headSize),
                  contextLength: try container.decode(Int.self, forKey: .contextLength),
                  rmsNormEpsilon: try container.decodeIfPresent(Float.self, forKey: .rmsNormEpsilon) ?? 1e-6, ropeTheta: theta,
                  ropeScaling: scaling, tieWordEmbeddings: try container.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(vocabularySize, forKey: .vocabularySize)
        try container.encode(hiddenSize, forKey: .hiddenSize)
        try container.encode(intermediateSize, forKey: .intermediateSize)
        try container.encode(layers, forKey: .layers)
        try container.encode(heads, forKey: .heads)
        try container.encode(keyValueHeads, forKey: .keyValueHeads)
        try container.encode(headSize, forKey: .headSize)
        try container.encode(contextLength, forKey: .contextLength)
        try container.encode(rmsNormEpsilon, forKey: .rmsNormEpsilon)
        try container.encode(ropeTheta, forKey: .ropeTheta)
        try container.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        var scaling = container.nestedContainer(keyedBy: ScalingKeys.self, forKey: .ropeScaling)
        switch ropeScaling {
        case let .linear(factor)?:
            try scaling.encode("linear", forKey: .ropeType)
            try scaling.encode(factor, forKey: .factor)
        case let .llama3(factor, low, high, original)?:
            try scaling.encode("llama3", forKey: .ropeType)
            try scaling.encode(factor, forKey: .factor)
            try scaling.encode(low, forKey: .lowFrequencyFactor)
            try scaling.encode(high, forKey: .highFrequencyFactor)
            try scaling.encode(original, forKey: .originalContextLength)
        case nil:
            try scaling.encode("default", forKey: .ropeType)
        }
    }

    /// Throws unless the sizes fit together.
    func validate(source: String) throws {
        guard vocabularySize > 0, hiddenSize > 0, intermediateSize > 0, layers > 0, heads > 0, keyValueHeads > 0, headSize > 0,
              headSize % 2 == 0, heads % keyValueHeads == 0, contextLength > 0, rmsNormEpsilon >= 0, ropeTheta > 0 else {
            throw CortexError.invalidFile(path: source, reason: "inconsistent Llama configuration \(self)")
        }
    }
}

/// A Llama-family decoder (Llama 2/3, SmolLM, Mistral-style): RMSNorm pre-norm blocks of
/// rotary grouped-query attention and a SwiGLU MLP, with Hugging Face's parameter names
/// (`model.layers.0.self_attn.q_proj.weight`, ...). Its projections are dense (`Linear`,
/// trainable) or quantised blocks from a GGUF file (`QuantizedLinear`, inference).
///
/// ```swift
/// let model = try Llama.load(gguf: "SmolLM2-135M-Instruct.Q4_1.gguf")
/// let next = try model.generate(prompt: ids, maxNewTokens: 32, sampling: SamplingOptions(temperature: 0))
/// ```
public final class Llama: Module, CausalLanguageModel, @unchecked Sendable {
    public let configuration: LlamaConfiguration
    public let model: LlamaBody
    /// The output projection; nil when tied to the token embedding.
    public let lmHead: (Module & Layer)?

    init(configuration: LlamaConfiguration, model: LlamaBody, lmHead: (Module & Layer)?) {
        self.configuration = configuration
        self.model = model
        self.lmHead = lmHead
        super.init()
    }

    /// A randomly initialised dense model (normal(0, 0.02) projections and embeddings, norms
    /// of ones, as transformers initialises Llama), trainable.
    public convenience init(_ configuration: LlamaConfiguration, generator: RandomGenerator = .default) throws {
        let built = try Llama.assemble(
            configuration, source: "LlamaConfiguration", pairing: .halves,
            matrix: { _, shape in try Linear(weight: Tensor.randn(shape, standardDeviation: 0.02, generator: generator)) },
            embedding: { shape in Embedding(weight: try Tensor.randn(shape, standardDeviation: 0.02, generator: generator)) },
            vector: { _, size in try Tensor.ones([size]) })
        self.init(configuration: configuration, model: built.model, lmHead: built.lmHead)
    }

    public var vocabularySize: Int { configuration.vocabularySize }
    public var contextLength: Int { configuration.contextLength }

    /// Logits (B, T, vocabulary) for ids (B, T).
    public func callAsFunction(_ ids: Tensor) throws -> Tensor {
        try project(model(ids, cache: nil, padding: nil))
    }

    public func nextTokenLogits(_ ids: Tensor, cache: KeyValueCache, padding: [[Bool]]?) throws -> Tensor {
        // One unpadded sequence takes the continuous-batching step (fused attention over the
        // cache, no score matrices or masks): the same arithmetic, fewer passes per token.
        if ids.rank == 2, ids.shape[0] == 1, cache.batch == 1, !cache.hasPadding, padding?.contains(where: { $0.contains(true) }) != true,
           !Attention.isRecording {
            return try nextTokenLogits(segments: [ids.toIntArray()], caches: [cache])
        }
        let hidden = try model(ids, cache: cache, padding: padding)
        return try project(hidden.select(axis: 1, index: ids.shape[1] - 1))
    }

    /// One step of a continuous batch: every segment's tokens go through the projections
    /// together (the weights read once for all rows), attention reads each sequence's own cache.
    public func nextTokenLogits(segments: [[Int]], caches: [KeyValueCache]) throws -> Tensor {
        try checkStep(segments: segments, caches: caches)
        let hidden = try model.step(segments: segments, caches: caches)
        return try project(hidden)
    }

    /// The step's logits with each segment's greedy choice; a packed quantised output
    /// projection on the refined path multiplies a second time only where it must
    /// (``QuantizedMatrix/refinedChoices(_:exact:)``).
    public func nextTokenChoices(segments: [[Int]], caches: [KeyValueCache], exact: [Bool]) throws -> (logits: Tensor, choices: [Int]) {
        try checkStep(segments: segments, caches: caches)
        let hidden = try model.step(segments: segments, caches: caches)
        let output: QuantizedMatrix? = lmHead == nil ? (model.embedTokens as? QuantizedEmbedding)?.matrix
            : (lmHead as? QuantizedLinear).flatMap { $0.bias == nil ? $0.matrix : nil }
        if let output, exact.count == segments.count {
            let (logits, choices) = try QuantizedMatrix.$activations.withValue(QuantizedMatrix.outputActivations) {
                try output.refinedChoices(hidden, exact: exact)
            }
            return (logits, choices)
        }
        let logits = try project(hidden).contiguous()
        return (logits, logits.firstLargestIndices())
    }

    /// Logits from final hidden states; a quantised output projection takes
    /// ``QuantizedMatrix/outputActivations``.
    func project(_ hidden: Tensor) throws -> Tensor {
        try QuantizedMatrix.$activations.withValue(QuantizedMatrix.outputActivations) { try projectLogits(hidden) }
    }

    private func projectLogits(_ hidden: Tensor) throws -> Tensor {
        if let lmHead { return try lmHead(hidden) }
        switch model.embedTokens {
        case let embedding as Embedding: return try hidden.matmul(embedding.weight.mT)
        case let embedding as QuantizedEmbedding: return try embedding.matrix.product(hidden)
        default: throw CortexError.invalidArgument(operation: "Llama", reason: "a tied output needs an Embedding or QuantizedEmbedding")
        }
    }

    public func makeCache(batch: Int = 1, dtype: DType = .float32) throws -> KeyValueCache {
        try KeyValueCache(layers: configuration.layers, batch: batch, heads: configuration.keyValueHeads, length: configuration.contextLength,
                          headSize: configuration.headSize, dtype: dtype)
    }

    /// Mean cross-entropy of predicting `targets` (B, T) from `ids` (B, T).
    public func loss(_ ids: Tensor, targets: Tensor) throws -> Tensor {
        try Loss.crossEntropy(self(ids).reshape([-1, configuration.vocabularySize]), targets: targets.reshape([-1]))
    }
}

public final class LlamaBody: Module, @unchecked Sendable {
    public let embedTokens: Module & Layer
    public let layers: [LlamaDecoderLayer]
    public let norm: RMSNorm

    init(embedTokens: Module & Layer, layers: [LlamaDecoderLayer], norm: RMSNorm) {
        self.embedTokens = embedTokens
        self.layers = layers
        self.norm = norm
        super.init()
    }

    func callAsFunction(_ ids: Tensor, cache: KeyValueCache?, padding: [[Bool]]?) throws -> Tensor {
        guard let rope = layers.first?.selfAttn.rope else { throw CortexError.invalidArgument(operation: "Llama", reason: "the model has no layers") }
        let contextLength = rope.maximumPositions
        guard ids.rank == 2, ids.shape[1] >= 1, (cache?.length ?? 0) + ids.shape[1] <= contextLength else {
            throw CortexError.shapeMismatch(operation: "Llama", shapes: [ids.shape],
                                            reason: "(ids must be (B, T) with \(cache?.length ?? 0) cached + T positions at most the context length \(contextLength))")
        }
        var positions = try Tensor.arange(0, Double(ids.shape[1]), dtype: .int64)
        var allowed: Tensor?
        if let cache { (positions, allowed) = try cache.advance(ids: ids, padding: padding) }
        // One set of rotary angles serves the queries and keys of every layer.
        let angles = try rope.angles(positions)
        var x = try embedTokens(ids)
        for (index, layer) in layers.enumerated() {
            x = try layer(x, angles: angles, cache: cache, layer: index, allowed: allowed)
        }
        cache?.commit(steps: ids.shape[1])
        return try norm(x)
    }

    /// Final hidden states (E, hidden) at the last position of each segment, segment e
    /// continuing `caches[e]` (a single-sequence cache) at its own positions. The segments'
    /// rows run as one sequence of N rows through everything but attention.
    func step(segments: [[Int]], caches: [KeyValueCache]) throws -> Tensor {
        guard let rope = layers.first?.selfAttn.rope else { throw CortexError.invalidArgument(operation: "Llama", reason: "the model has no layers") }
        var positions: [Int] = []
        for (segment, cache) in zip(segments, caches) {
            let first = try cache.advanceAlone(steps: segment.count)
            positions += first..<(first + segment.count)
        }
        let angles = try rope.angles(Tensor(integers: positions, shape: [positions.count]))
        let lengths = segments.map(\.count)
        var x = try embedTokens(Tensor(integers: Array(segments.joined()), shape: [1, positions.count]))
        for (index, layer) in layers.enumerated() {
            let y = try x + layer.selfAttn.step(layer.inputLayernorm(x), angles: angles, lengths: lengths, caches: caches, layer: index)
            x = try y + layer.mlp(layer.postAttentionLayernorm(y))
        }
        for (length, cache) in zip(lengths, caches) { cache.commit(steps: length) }
        var last: [Int] = []
        var end = 0
        for length in lengths {
            end += length
            last.append(end - 1)
        }
        let rows = try x.reshape([positions.count, x.shape[2]])
        return try norm(lengths.count == positions.count ? rows : rows.indexSelect(axis: 0, indices: Tensor(integers: last, shape: [last.count])))
    }
}

public final class LlamaDecoderLayer: Module, @unchecked Sendable {
    public let selfAttn: LlamaAttention
    public let mlp: LlamaMLP
    public let inputLayernorm: RMSNorm, postAttentionLayernorm: RMSNorm

    init(selfAttn: LlamaAttention, mlp: LlamaMLP, inputLayernorm: RMSNorm, postAttentionLayernorm: RMSNorm) {
        self.selfAttn = selfAttn
        self.mlp = mlp
        self.inputLayernorm = inputLayernorm
        self.postAttentionLayernorm = postAttentionLayernorm
        super.init()
    }

    func callAsFunction(_ x: Tensor, angles: RotaryEmbedding.Angles, cache: KeyValueCache?, layer: Int, allowed: Tensor?) throws -> Tensor {
        let y = try x + selfAttn(inputLayernorm(x), angles: angles, cache: cache, layer: layer, allowed: allowed)
        return try y + mlp(postAttentionLayernorm(y))
    }
}

/// Rotary grouped-query attention: `heads` query heads share `keyValueHeads` key/value heads
/// in groups (query head i reads key/value head i / (heads / keyValueHeads)).
public final class LlamaAttention: Module, @unchecked Sendable {
    public private(set) var qProj: Module & Layer, kProj: Module & Layer, vProj: Module & Layer, oProj: Module & Layer
    let heads: Int, keyValueHeads: Int, headSize: Int
    let rope: RotaryEmbedding

    init(qProj: Module & Layer, kProj: Module & Layer, vProj: Module & Layer, oProj: Module & Layer, configuration: LlamaConfiguration,
         rope: RotaryEmbedding) {
        self.qProj = qProj
        self.kProj = kProj
        self.vProj = vProj
        self.oProj = oProj
        heads = configuration.heads
        keyValueHeads = configuration.keyValueHeads
        headSize = configuration.headSize
        self.rope = rope
        super.init()
    }

    func callAsFunction(_ x: Tensor, angles: RotaryEmbedding.Angles, cache: KeyValueCache?, layer: Int, allowed: Tensor?) throws -> Tensor {
        let (batch, steps) = (x.shape[0], x.shape[1])
        func split(_ projected: Tensor, _ count: Int) throws -> Tensor {
            try projected.reshape([batch, steps, count, headSize]).permute([0, 2, 1, 3])
        }
        let query = try rope(split(qProj(x), heads), angles: angles)
        var keys = try rope(split(kProj(x), keyValueHeads), angles: angles)
        var values = try split(vProj(x), keyValueHeads)
        var offset = 0
        if let cache {
            offset = cache.length
            (keys, values) = try cache.appendAsFloat(layer: layer, keys: keys, values: values)
        }
        // Each key/value head serves a group of query heads: (B, kv, group, T, d) against (B, kv, 1, S, d).
        let group = heads / keyValueHeads
        let grouped = try query.reshape([batch, keyValueHeads, group, steps, headSize])
        let attended = try Attention.scaledDotProduct(query: grouped, key: keys.unsqueeze(2), value: values.unsqueeze(2),
                                                      allowed: allowed?.unsqueeze(2), causal: allowed == nil, causalOffset: offset)
        return try oProj(attended.reshape([batch, heads, steps, headSize]).permute([0, 2, 1, 3]).reshape([batch, steps, heads * headSize]))
    }
}

extension LlamaAttention {
    /// Attention for the rows of several segments (x is (1, N, hidden), segment e the next
    /// `lengths[e]` rows): the projections over all rows, each segment's keys and values
    /// appended to its own cache and attended to there (causally), as the single-sequence
    /// path does for it.
    func step(_ x: Tensor, angles: RotaryEmbedding.Angles, lengths: [Int], caches: [KeyValueCache], layer: Int) throws -> Tensor {
        let rows = x.shape[1]
        func split(_ projected: Tensor, _ count: Int) throws -> Tensor {
            try projected.reshape([1, rows, count, headSize]).permute([0, 2, 1, 3])
        }
        let projected = try sameInputProjections([qProj, kProj, vProj], x)
        let query = try rope(split(projected[0], heads), angles: angles)
        let keys = try rope(split(projected[1], keyValueHeads), angles: angles)
        let values = try split(projected[2], keyValueHeads)
        // Each segment's keys and values go into its cache; then one fused kernel per (segment,
        // head) attends its query rows to that cache, writing (1, N, heads, d) directly.
        var held: [(keys: Tensor, values: Tensor, offset: Int, start: Int, length: Int)] = []
        var start = 0
        for (length, cache) in zip(lengths, caches) {
            let offset = cache.length
            let (heldKeys, heldValues) = try cache.append(layer: layer, keys: keys.slice(axis: 2, start: start, end: start + length),
                                                          values: values.slice(axis: 2, start: start, end: start + length))
            held.append((heldKeys, heldValues, offset, start, length))
            start += length
        }
        let queries = try query.contiguous()
        let output = try Tensor.empty([1, rows, heads, headSize])
        let (headCount, group, size) = (heads, heads / keyValueHeads, headSize)
        let scale = 1 / Float(size).squareRoot()
        let queryBase = UncheckedPointer(queries.storage.pointer.assumingMemoryBound(to: Float.self) + queries.layout.offset)
        let outputBase = UncheckedPointer(output.storage.pointer.assumingMemoryBound(to: Float.self) + output.layout.offset)
        let segments = UncheckedPointer(held)
        for segment in held { FLOPCounter.recordCachedAttention(heads: headCount, headSize: size, queries: segment.length, offset: segment.offset) }
        // Work items: a decoding segment (one query row) takes each key/value head with the
        // group of query heads that share it, reading its keys and values once for them all;
        // a longer segment takes each query head alone.
        var items: [(segment: Int, head: Int, heads: Int)] = []
        for (index, segment) in held.enumerated() {
            if segment.length == 1 {
                for first in stride(from: 0, to: headCount, by: group) { items.append((index, first, group)) }
            } else {
                for head in 0..<headCount { items.append((index, head, 1)) }
            }
        }
        let work = UncheckedPointer(items)
        CPUParallelism.forEachRange(items.count, grain: 1) { range in
            for item in work.value[range] {
                let (segment, head) = (segments.value[item.segment], item.head)
                let keyValueHead = head / group
                let keys = HeldRows(segment.keys).advanced(by: keyValueHead * segment.keys.layout.strides[1])
                let values = HeldRows(segment.values).advanced(by: keyValueHead * segment.values.layout.strides[1])
                let rowStride = segment.keys.layout.strides[2]
                let query = queryBase.value + (head * rows + segment.start) * size
                let output = outputBase.value + (segment.start * headCount + head) * size
                if item.heads > 1 {
                    HeldRows.attendGroup(query: query, queryHeadStride: rows * size, heads: item.heads, keys: keys, values: values, rowStride: rowStride,
                                         output: output, outputHeadStride: size, offset: segment.offset, size: size, scale: scale)
                } else {
                    HeldRows.attend(query: query, queryStride: size, keys: keys, values: values, rowStride: rowStride, output: output,
                                    outputStride: headCount * size, rows: segment.length, offset: segment.offset, size: size, scale: scale)
                }
            }
        }
        return try oProj(output.reshape([1, rows, heads * headSize]))
    }
}

/// A value handed to the worker threads, which only read it while the caller waits.
struct UncheckedPointer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// SwiGLU: down(silu(gate(x)) * up(x)).
public final class LlamaMLP: Module, @unchecked Sendable {
    public private(set) var gateProj: Module & Layer, upProj: Module & Layer, downProj: Module & Layer

    init(gateProj: Module & Layer, upProj: Module & Layer, downProj: Module & Layer) {
        self.gateProj = gateProj
        self.upProj = upProj
        self.downProj = downProj
        super.init()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let projected = try sameInputProjections([gateProj, upProj], x)
        let (gate, up) = (projected[0], projected[1])
        if fusedInferenceApplies(to: [gate, up]), gate.shape == up.shape {
            // Inference: silu and the product in one pass.
            let (g, u) = (try gate.contiguous(), try up.contiguous())
            let middle = try Tensor.empty(gate.shape)
            cortex_silu_multiply(g.storage.pointer.assumingMemoryBound(to: Float.self) + g.layout.offset,
                                 u.storage.pointer.assumingMemoryBound(to: Float.self) + u.layout.offset,
                                 middle.storage.pointer.assumingMemoryBound(to: Float.self), gate.count)
            FLOPCounter.record(.elementwise, 2 * gate.count)
            return try downProj(middle)
        }
        return try downProj(gate.silu() * up)
    }
}

extension LlamaAttention: ChildReplacing {
    public func replaceChild(named name: String, with module: Module & Layer) throws {
        switch name {
        case "q_proj": qProj = module
        case "k_proj": kProj = module
        case "v_proj": vProj = module
        case "o_proj": oProj = module
        default: throw noReplaceableChild(name, among: ["q_proj", "k_proj", "v_proj", "o_proj"])
        }
    }
}

extension LlamaMLP: ChildReplacing {
    public func replaceChild(named name: String, with module: Module & Layer) throws {
        switch name {
        case "gate_proj": gateProj = module
        case "up_proj": upProj = module
        case "down_proj": downProj = module
        default: throw noReplaceableChild(name, among: ["gate_proj", "up_proj", "down_proj"])
        }
    }
}
