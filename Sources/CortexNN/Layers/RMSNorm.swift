import CCortexKernels
import CortexCore

/// Root-mean-square normalisation over the last axis, as `nn.RMSNorm` and Llama's
/// `LlamaRMSNorm`: y = x / sqrt(mean(x²) + eps) * weight (no centring, no bias).
///
/// ```swift
/// let norm = RMSNorm(576, epsilon: 1e-5)
/// let y = try norm(x)     // (..., 576)
/// ```
public final class RMSNorm: Module, Layer, @unchecked Sendable {
    @Parameter public var weight: Tensor
    public let epsilon: Float

    public init(_ size: Int, epsilon: Float = 1e-6) {
        weight = try! Tensor.ones([size])
        self.epsilon = epsilon
        super.init()
    }

    /// A norm with a given (loaded) weight.
    public init(weight: Tensor, epsilon: Float) {
        self.weight = weight
        self.epsilon = epsilon
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard input.shape.last == weight.shape.first, weight.rank == 1 else {
            throw CortexError.shapeMismatch(operation: "RMSNorm", shapes: [input.shape, weight.shape], reason: "(input must end with the weight's size)")
        }
        if fusedInferenceApplies(to: [input, weight]) {
            // Inference: one fused pass instead of six ops.
            let x = try input.contiguous(), w = try weight.contiguous()
            let output = try Tensor.empty(input.shape)
            cortex_rms_norm(x.storage.pointer.assumingMemoryBound(to: Float.self) + x.layout.offset,
                            w.storage.pointer.assumingMemoryBound(to: Float.self) + w.layout.offset,
                            output.storage.pointer.assumingMemoryBound(to: Float.self), input.count / max(weight.count, 1), weight.count, epsilon)
            FLOPCounter.record(.elementwise, 4 * input.count)   // square, mean, normalise, scale
            return output
        }
        return try normalized(input) * weight
    }

    /// The input divided by its root mean square over the last axis, before the weight (the
    /// forward pass and the per-sample gradients share it).
    func normalized(_ input: Tensor) throws -> Tensor {
        try input * (input.square().mean(axes: [-1], keepDimensions: true) + epsilon).rsqrt()
    }
}
