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

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        guard input.rank >= normalizedShape.count, Array(input.shape.suffix(normalizedShape.count)) == normalizedShape else {
            throw CortexError.shapeMismatch(operation: "LayerNorm", shapes: [input.shape, normalizedShape],
                                            reason: "(input must end with the normalized shape)")
        }
        let axes = Array((input.rank - normalizedShape.count)..<input.rank)
        let centered = try input - input.mean(axes: axes, keepDimensions: true)
        let variance = try centered.square().mean(axes: axes, keepDimensions: true)
        var output = try centered * (variance + epsilon).rsqrt()
        if let weight { output = try output * weight }
        if let bias { output = try output + bias }
        return output
    }
}
