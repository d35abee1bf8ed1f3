import CortexCore

/// A projection a low-rank adapter can sit beside: its input and output sizes, and how a
/// weight update (out, in) is folded into it. ``Linear`` and ``QuantizedLinear`` are such
/// projections, and so is GPT-2's `Conv1D` (``TransposedLinear`` in CortexModels, whose weight
/// is stored (in, out): PEFT's `fan_in_fan_out`).
public protocol LoRAAdaptable: Module, Layer {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// Whether the weight is stored (in, out), as GPT-2's `Conv1D` stores it.
    var storesWeightTransposed: Bool { get }
    /// The layer with `delta` (outFeatures, inFeatures) added to its weight: this layer, updated,
    /// or a dense one in its place (a quantised layer is dequantised first).
    func merging(_ delta: Tensor) throws -> Module & Layer
}

/// A frozen projection with a trainable low-rank update beside it (Hu et al. 2021), as PEFT's
/// `lora.Linear`:
///
///     y = base(x) + (α / r) · B A dropout(x)
///
/// A (r, in) starts Kaiming-uniform (a = √5, as `nn.Linear`), B (out, r) at zero, so the layer
/// starts out computing exactly what its base computes. The base may be a quantised GGUF
/// projection (QLoRA): its blocks are never updated, and gradients reach the layer's input
/// through the dequantised product. Children are named as PEFT names them once the adapter
/// name is dropped (`base_layer`, `lora_A`, `lora_B`), so the adapter's keys are PEFT's.
///
/// ```swift
/// let adapted = try LoRALinear(base: Linear(576, 576), rank: 8, alpha: 16)
/// let y = try adapted(x)                  // equals the base's output until B is trained
/// ```
public final class LoRALinear: Module, Layer, @unchecked Sendable {
    public let baseLayer: any LoRAAdaptable
    public let loraDropout: Dropout
    /// A: (rank, inFeatures).
    public let loraA: Linear
    /// B: (outFeatures, rank).
    public let loraB: Linear
    public let rank: Int
    public let alpha: Double
    /// α / r (or α / √r with rank-stabilised scaling).
    public let scaling: Float

    public init(base: any LoRAAdaptable, rank: Int, alpha: Double, dropout: Float = 0, rankStabilized: Bool = false,
                generator: RandomGenerator = .default) throws {
        guard rank > 0 else {
            throw CortexError.invalidArgument(operation: "LoRALinear", reason: "the rank must be positive, got \(rank)")
        }
        guard alpha.isFinite, alpha > 0 else {
            throw CortexError.invalidArgument(operation: "LoRALinear", reason: "alpha must be a positive number, got \(alpha)")
        }
        guard dropout >= 0, dropout < 1 else {
            throw CortexError.invalidArgument(operation: "LoRALinear", reason: "the dropout must be in [0, 1), got \(dropout)")
        }
        baseLayer = base
        loraDropout = Dropout(dropout, generator: generator)
        loraA = Linear(base.inFeatures, rank, bias: false, generator: generator)
        loraB = try Linear(weight: Tensor.zeros([base.outFeatures, rank]))
        self.rank = rank
        self.alpha = alpha
        scaling = Float(rankStabilized ? alpha / Double(rank).squareRoot() : alpha / Double(rank))
        super.init()
    }

    public var inFeatures: Int { baseLayer.inFeatures }
    public var outFeatures: Int { baseLayer.outFeatures }

    override public func namedChildren() -> [(String, Module)] {
        [("base_layer", baseLayer), ("lora_dropout", loraDropout), ("lora_A", loraA), ("lora_B", loraB)]
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        let base = try baseLayer(input)
        let update = try loraB(loraA(loraDropout(input)))
        return try base + update * scaling
    }

    /// The update this adapter adds to the base weight, (α / r) · B A: (outFeatures, inFeatures).
    public func deltaWeight() throws -> Tensor {
        try withNoGrad { try loraB.weight.detach().matmul(loraA.weight.detach()) * scaling }
    }

    /// The base layer with the update folded into its weight (PEFT's `merge_and_unload` for
    /// one layer).
    public func merged() throws -> Module & Layer {
        try withNoGrad { try baseLayer.merging(deltaWeight()) }
    }
}

extension Linear: LoRAAdaptable {
    public var storesWeightTransposed: Bool { false }

    public func merging(_ delta: Tensor) throws -> Module & Layer {
        guard delta.shape == weight.shape else {
            throw CortexError.shapeMismatch(operation: "Linear.merging", shapes: [delta.shape, weight.shape], reason: "(the update must match the weight)")
        }
        let trainable = weight.requiresGrad
        try withNoGrad { weight = try (weight.detach() + delta.to(weight.dtype)).contiguous() }
        var updated = weight
        updated.requiresGrad = trainable
        return self
    }
}

extension QuantizedLinear: LoRAAdaptable {
    public var storesWeightTransposed: Bool { false }

    /// A dense ``Linear`` holding the dequantised weight plus the update (the quantised blocks
    /// are left as they are).
    public func merging(_ delta: Tensor) throws -> Module & Layer {
        guard delta.shape == matrix.shape else {
            throw CortexError.shapeMismatch(operation: "QuantizedLinear.merging", shapes: [delta.shape, matrix.shape],
                                            reason: "(the update must match the weight)")
        }
        let merged = try withNoGrad { try matrix.dequantized() + delta }
        let layer = try Linear(weight: merged.detach(), bias: bias?.detach())
        layer.freeze()
        return layer
    }
}
