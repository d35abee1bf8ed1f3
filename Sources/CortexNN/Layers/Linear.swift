import CortexCore

/// y = x W^T + b, as `torch.nn.Linear`: weight (outFeatures, inFeatures), bias (outFeatures),
/// both initialised as PyTorch does. Any number of leading axes.
///
/// ```swift
/// let layer = Linear(784, 128)
/// let y = try layer(Tensor.randn([64, 784]))   // (64, 128)
/// ```
public final class Linear: Module, Layer, @unchecked Sendable {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?
    public let inFeatures: Int, outFeatures: Int
    /// The layer's int8 form (``Int8Quantization``): while set and quantised, forward passes
    /// compute in int8 and give no gradients.
    public internal(set) var int8: Int8LayerState?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: RandomGenerator = .default) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weight = try! Initializers.defaultWeight([outFeatures, inFeatures], generator: generator)
        self.bias = bias ? try! Initializers.defaultBias(outFeatures, fanIn: inFeatures, generator: generator) : nil
        super.init()
    }

    /// A layer over given (loaded) tensors: weight (outFeatures, inFeatures), bias (outFeatures).
    public init(weight: Tensor, bias: Tensor? = nil) throws {
        guard weight.rank == 2, bias.map({ $0.shape == [weight.shape[0]] }) ?? true else {
            throw CortexError.shapeMismatch(operation: "Linear", shapes: [weight.shape, bias?.shape ?? []],
                                            reason: "(weight must be (out, in) and bias (out))")
        }
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
        self.weight = weight
        self.bias = bias
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard input.shape.last == inFeatures else {
            throw CortexError.shapeMismatch(operation: "Linear", shapes: [input.shape, weight.shape],
                                            reason: "(input's last axis must be \(inFeatures))")
        }
        let bias = try self.bias.map { try masked("bias", $0) }
        if let int8, let product = try int8.product(input, bias: bias) { return product }
        let product = try input.matmul(masked("weight", weight).mT)
        return try bias.map { try product + $0 } ?? product
    }
}
