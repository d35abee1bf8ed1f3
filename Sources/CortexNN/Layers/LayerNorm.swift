import CCortexKernels
import CortexCore

/// Normalises over the trailing `normalizedShape` axes, then scales and shifts elementwise, as
/// `nn.LayerNorm`: y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance.
public final class LayerNorm: Module, Layer, @unchecked Sendable {
    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    public let normalizedShape: [Int]
    public let epsilon: Float

    public init(_ normalizedShape: [Int], epsilon: Float = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon
        self.weight = elementwiseAffine ? try! Tensor.ones(normalizedShape) : nil
        self.bias = elementwiseAffine && bias ? try! Tensor.zeros(normalizedShape) : nil
        super.init()
    }

    public convenience init(_ size: Int, epsilon: Float = 1e-5) { self.init([size], epsilon: epsilon) }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank >= normalizedShape.count, Array(input.shape.suffix(normalizedShape.count)) == normalizedShape else {
            throw CortexError.shapeMismatch(operation: "LayerNorm", shapes: [input.shape, normalizedShape],
                                            reason: "(input must end with the normalized shape)")
        }
        if let fused = try fusedInference(input) { return fused }
        var output = try normalized(input)
        if let weight { output = try output * weight }
        if let bias { output = try output + bias }
        return output
    }

    /// Inference (nothing needs a gradient): one fused pass instead of nine ops. Nil where the
    /// composite form must run.
    /// The input centred and scaled to unit variance over the normalised axes, before the
    /// affine weight and bias (the forward pass and the per-sample gradients share it).
    func normalized(_ input: Tensor) throws -> Tensor {
        let axes = Array((input.rank - normalizedShape.count)..<input.rank)
        let centered = try input - input.mean(axes: axes, keepDimensions: true)
        let variance = try centered.square().mean(axes: axes, keepDimensions: true)
        return try centered * (variance + epsilon).rsqrt()
    }

    private func fusedInference(_ input: Tensor) throws -> Tensor? {
        guard fusedInferenceApplies(to: [input] + [weight, bias].compactMap { $0 }) else { return nil }
        let size = normalizedShape.reduce(1, *)
        let (x, w, b) = (try input.contiguous(), try weight?.contiguous(), try bias?.contiguous())
        let output = try Tensor.empty(input.shape)
        func pointer(_ tensor: Tensor?) -> UnsafePointer<Float>? {
            tensor.map { UnsafePointer($0.storage.pointer.assumingMemoryBound(to: Float.self) + $0.layout.offset) }
        }
        cortex_layer_norm(pointer(x), pointer(w), pointer(b), output.storage.pointer.assumingMemoryBound(to: Float.self),
                          input.count / Swift.max(size, 1), size, epsilon)
        // As the unfused ops count: mean, centre, square, mean, normalise, scale, shift.
        FLOPCounter.record(.elementwise, 7 * input.count)
        return withExtendedLifetime((x, w, b)) { output }
    }
}
