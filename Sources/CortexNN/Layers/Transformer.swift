import CortexCore
import Foundation

/// The feed-forward activation of a Transformer layer.
public enum TransformerActivation: Sendable {
    case relu, gelu

    func callAsFunction(_ x: Tensor) throws -> Tensor { self == .relu ? try x.relu() : try x.gelu() }
}

/// One encoder layer as `nn.TransformerEncoderLayer`: self-attention and a feed-forward block,
/// each with a residual connection and layer norm, after (post-norm, the default) or before
/// (`normFirst`) the block. Parameter names match PyTorch's (`self_attn.in_proj_weight`,
/// `linear1.weight`, `norm2.bias`, ...).
///
/// ```swift
/// let layer = TransformerEncoderLayer(512, heads: 8, feedforward: 2048, batchFirst: true)
/// let y = try layer(x, keyPaddingMask: padding)
/// ```
public final class TransformerEncoderLayer: Module, @unchecked Sendable {
    public let selfAttn: MultiheadAttention
    public let linear1: Linear, dropout: Dropout, linear2: Linear
    public let norm1: LayerNorm, norm2: LayerNorm
    public let dropout1: Dropout, dropout2: Dropout
    public let activation: TransformerActivation, normFirst: Bool

    public init(_ dModel: Int, heads: Int, feedforward: Int = 2048, dropout: Float = 0.1, activation: TransformerActivation = .relu,
                layerNormEpsilon: Float = 1e-5, batchFirst: Bool = false, normFirst: Bool = false, bias: Bool = true,
                generator: RandomGenerator = .default) {
        selfAttn = MultiheadAttention(dModel, heads: heads, dropout: dropout, bias: bias, batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, feedforward, bias: bias, generator: generator)
        self.dropout = Dropout(dropout, generator: generator)
        linear2 = Linear(feedforward, dModel, bias: bias, generator: generator)
        norm1 = LayerNorm([dModel], epsilon: layerNormEpsilon, bias: bias)
        norm2 = LayerNorm([dModel], epsilon: layerNormEpsilon, bias: bias)
        dropout1 = Dropout(dropout, generator: generator)
        dropout2 = Dropout(dropout, generator: generator)
        self.activation = activation
        self.normFirst = normFirst
        super.init()
    }

    /// `mask` is an (L, L) attention mask (boolean true = blocked, or float added),
    /// `keyPaddingMask` (N, L) true at padding; `causal` blocks later positions.
    public func callAsFunction(_ source: Tensor, mask: Tensor? = nil, keyPaddingMask: Tensor? = nil, causal: Bool = false) throws -> Tensor {
        func attention(_ x: Tensor) throws -> Tensor {
            try dropout1(selfAttn(x, x, x, keyPaddingMask: keyPaddingMask, attentionMask: mask, causal: causal, needWeights: false).output)
        }
        func feedForward(_ x: Tensor) throws -> Tensor { try dropout2(linear2(dropout(activation(linear1(x))))) }
        if normFirst {
            let x = try source + attention(norm1(source))
            return try x + feedForward(norm2(x))
        }
        let x = try norm1(source + attention(source))
        return try norm2(x + feedForward(x))
    }
}

/// One decoder layer as `nn.TransformerDecoderLayer`: masked self-attention, attention over the
/// encoder's memory, and a feed-forward block, each with residual and layer norm.
public final class TransformerDecoderLayer: Module, @unchecked Sendable {
    public let selfAttn: MultiheadAttention, multiheadAttn: MultiheadAttention
    public let linear1: Linear, dropout: Dropout, linear2: Linear
    public let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm
    public let dropout1: Dropout, dropout2: Dropout, dropout3: Dropout
    public let activation: TransformerActivation, normFirst: Bool

    public init(_ dModel: Int, heads: Int, feedforward: Int = 2048, dropout: Float = 0.1, activation: TransformerActivation = .relu,
                layerNormEpsilon: Float = 1e-5, batchFirst: Bool = false, normFirst: Bool = false, bias: Bool = true,
                generator: RandomGenerator = .default) {
        selfAttn = MultiheadAttention(dModel, heads: heads, dropout: dropout, bias: bias, batchFirst: batchFirst, generator: generator)
        multiheadAttn = MultiheadAttention(dModel, heads: heads, dropout: dropout, bias: bias, batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, feedforward, bias: bias, generator: generator)
        self.dropout = Dropout(dropout, generator: generator)
        linear2 = Linear(feedforward, dModel, bias: bias, generator: generator)
        norm1 = LayerNorm([dModel], epsilon: layerNormEpsilon, bias: bias)
        norm2 = LayerNorm([dModel], epsilon: layerNormEpsilon, bias: bias)
        norm3 = LayerNorm([dModel], epsilon: layerNormEpsilon, bias: bias)
        dropout1 = Dropout(dropout, generator: generator)
        dropout2 = Dropout(dropout, generator: generator)
        dropout3 = Dropout(dropout, generator: generator)
        self.activation = activation
        self.normFirst = normFirst
        super.init()
    }

    public func callAsFunction(_ target: Tensor, memory: Tensor, targetMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               targetKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                               targetCausal: Bool = false) throws -> Tensor {
        func selfAttention(_ x: Tensor) throws -> Tensor {
            try dropout1(selfAttn(x, x, x, keyPaddingMask: targetKeyPaddingMask, attentionMask: targetMask, causal: targetCausal,
                                  needWeights: false).output)
        }
        func crossAttention(_ x: Tensor) throws -> Tensor {
            try dropout2(multiheadAttn(x, memory, memory, keyPaddingMask: memoryKeyPaddingMask, attentionMask: memoryMask,
                                       needWeights: false).output)
        }
        func feedForward(_ x: Tensor) throws -> Tensor { try dropout3(linear2(dropout(activation(linear1(x))))) }
        if normFirst {
            var x = try target + selfAttention(norm1(target))
            x = try x + crossAttention(norm2(x))
            return try x + feedForward(norm3(x))
        }
        var x = try norm1(target + selfAttention(target))
        x = try norm2(x + crossAttention(x))
        return try norm3(x + feedForward(x))
    }
}

/// A stack of encoder layers with an optional final layer norm, as `nn.TransformerEncoder`.
public final class TransformerEncoder: Module, @unchecked Sendable {
    public let layers: [TransformerEncoderLayer]
    public let norm: LayerNorm?

    public init(layers: [TransformerEncoderLayer], norm: LayerNorm? = nil) {
        self.layers = layers
        self.norm = norm
        super.init()
    }

    public func callAsFunction(_ source: Tensor, mask: Tensor? = nil, keyPaddingMask: Tensor? = nil, causal: Bool = false) throws -> Tensor {
        var x = source
        for layer in layers { x = try layer(x, mask: mask, keyPaddingMask: keyPaddingMask, causal: causal) }
        return try norm.map { try $0(x) } ?? x
    }
}

/// A stack of decoder layers with an optional final layer norm, as `nn.TransformerDecoder`.
public final class TransformerDecoder: Module, @unchecked Sendable {
    public let layers: [TransformerDecoderLayer]
    public let norm: LayerNorm?

    public init(layers: [TransformerDecoderLayer], norm: LayerNorm? = nil) {
        self.layers = layers
        self.norm = norm
        super.init()
    }

    public func callAsFunction(_ target: Tensor, memory: Tensor, targetMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               targetKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                               targetCausal: Bool = false) throws -> Tensor {
        var x = target
        for layer in layers {
            x = try layer(x, memory: memory, targetMask: targetMask, memoryMask: memoryMask, targetKeyPaddingMask: targetKeyPaddingMask,
                          memoryKeyPaddingMask: memoryKeyPaddingMask, targetCausal: targetCausal)
        }
        return try norm.map { try $0(x) } ?? x
    }
}

/// The encoder-decoder Transformer as `nn.Transformer` (final layer norms on both stacks,
/// matrices xavier-initialised), with PyTorch's parameter names (`encoder.layers.0.linear1.weight`,
/// `decoder.norm.bias`, ...).
///
/// ```swift
/// let model = Transformer(dModel: 512, heads: 8, encoderLayers: 6, decoderLayers: 6, batchFirst: true)
/// let y = try model(source, target, targetMask: nil, targetCausal: true)
/// ```
public final class Transformer: Module, @unchecked Sendable {
    public let encoder: TransformerEncoder
    public let decoder: TransformerDecoder

    public init(dModel: Int = 512, heads: Int = 8, encoderLayers: Int = 6, decoderLayers: Int = 6, feedforward: Int = 2048,
                dropout: Float = 0.1, activation: TransformerActivation = .relu, layerNormEpsilon: Float = 1e-5,
                batchFirst: Bool = false, normFirst: Bool = false, bias: Bool = true, generator: RandomGenerator = .default) {
        encoder = TransformerEncoder(layers: (0..<encoderLayers).map { _ in
            TransformerEncoderLayer(dModel, heads: heads, feedforward: feedforward, dropout: dropout, activation: activation,
                                    layerNormEpsilon: layerNormEpsilon, batchFirst: batchFirst, normFirst: normFirst, bias: bias,
                                    generator: generator)
        }, norm: LayerNorm([dModel], epsilon: layerNormEpsilon, bias: bias))
        decoder = TransformerDecoder(layers: (0..<decoderLayers).map { _ in
            TransformerDecoderLayer(dModel, heads: heads, feedforward: feedforward, dropout: dropout, activation: activation,
                                    layerNormEpsilon: layerNormEpsilon, batchFirst: batchFirst, normFirst: normFirst, bias: bias,
                                    generator: generator)
        }, norm: LayerNorm([dModel], epsilon: layerNormEpsilon, bias: bias))
        super.init()
        // As nn.Transformer._reset_parameters: xavier-uniform for every matrix.
        for parameter in parameters() where parameter.rank > 1 {
            try! withNoGrad { try parameter.copy(from: Initializers.xavierUniform(parameter.shape, generator: generator)) }
        }
    }

    public func callAsFunction(_ source: Tensor, _ target: Tensor, sourceMask: Tensor? = nil, targetMask: Tensor? = nil,
                               memoryMask: Tensor? = nil, sourceKeyPaddingMask: Tensor? = nil, targetKeyPaddingMask: Tensor? = nil,
                               memoryKeyPaddingMask: Tensor? = nil, targetCausal: Bool = false) throws -> Tensor {
        let memory = try encoder(source, mask: sourceMask, keyPaddingMask: sourceKeyPaddingMask)
        return try decoder(target, memory: memory, targetMask: targetMask, memoryMask: memoryMask,
                           targetKeyPaddingMask: targetKeyPaddingMask, memoryKeyPaddingMask: memoryKeyPaddingMask, targetCausal: targetCausal)
    }
}

/// Fixed sinusoidal position encodings (Vaswani et al.): sin on even features, cos on odd ones,
/// added to (N, T, d) inputs (or (T, N, d) when not batch-first).
public final class SinusoidalPositionalEncoding: Module, Layer, @unchecked Sendable {
    public let table: Tensor
    public let batchFirst: Bool

    public init(_ dModel: Int, maximumLength: Int = 5000, batchFirst: Bool = true) {
        var values = [Float](repeating: 0, count: maximumLength * dModel)
        for position in 0..<maximumLength {
            for pair in stride(from: 0, to: dModel, by: 2) {
                let angle = Double(position) * Foundation.exp(-Double(pair) * Foundation.log(10_000.0) / Double(dModel))
                values[position * dModel + pair] = Float(Foundation.sin(angle))
                if pair + 1 < dModel { values[position * dModel + pair + 1] = Float(Foundation.cos(angle)) }
            }
        }
        table = try! Tensor(values, shape: [maximumLength, dModel])
        self.batchFirst = batchFirst
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        let length = input.shape[batchFirst ? 1 : 0]
        guard input.rank == 3, input.shape[2] == table.shape[1], length <= table.shape[0] else {
            throw CortexError.shapeMismatch(operation: "SinusoidalPositionalEncoding", shapes: [input.shape, table.shape],
                                            reason: "(input must be rank 3 with \(table.shape[1]) features and at most \(table.shape[0]) positions)")
        }
        let positions = try table.slice(axis: 0, start: 0, end: length)
        return try input + (batchFirst ? positions : positions.unsqueeze(1))
    }
}

/// Learned position embeddings (GPT-2's `wpe`): an ``Embedding`` of positions 0..<T added to (N, T, d).
public final class LearnedPositionalEmbedding: Module, Layer, @unchecked Sendable {
    public let embedding: Embedding

    public init(maximumLength: Int, _ dModel: Int, generator: RandomGenerator = .default) {
        embedding = Embedding(maximumLength, dModel, generator: generator)
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        try input + embedding(Tensor.arange(0, Double(input.shape[1]), dtype: .int64))
    }
}
