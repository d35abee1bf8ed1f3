import CortexCore

/// Group normalisation, as `nn.GroupNorm`: channels split into `groups`, each normalised over
/// its channels and spatial positions per sample, then scaled and shifted per channel.
public final class GroupNorm: Module, Layer, @unchecked Sendable {
    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    public let groups: Int, channels: Int
    public let epsilon: Float

    public init(groups: Int, channels: Int, epsilon: Float = 1e-5, affine: Bool = true) {
        self.groups = groups
        self.channels = channels
        self.epsilon = epsilon
        self.weight = affine ? try! Tensor.ones([channels]) : nil
        self.bias = affine ? try! Tensor.zeros([channels]) : nil
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard groups > 0, channels % groups == 0 else {
            throw CortexError.invalidArgument(operation: "GroupNorm", reason: "groups \(groups) must divide channels \(channels)")
        }
        guard input.rank >= 2, input.shape[1] == channels else {
            throw CortexError.shapeMismatch(operation: "GroupNorm", shapes: [input.shape], reason: "must be (N, \(channels), ...)")
        }
        var output = try normalized(input)
        let broadcastShape = [1, channels] + Array(repeating: 1, count: input.rank - 2)
        if let weight { output = try output * weight.reshape(broadcastShape) }
        if let bias { output = try output + bias.reshape(broadcastShape) }
        return output
    }

    /// The input centred and scaled to unit variance within each group, before the affine
    /// weight and bias (the forward pass and the per-sample gradients share it).
    func normalized(_ input: Tensor) throws -> Tensor {
        let grouped = try input.reshape([input.shape[0], groups, -1])
        let centered = try grouped - grouped.mean(axes: [2], keepDimensions: true)
        let variance = try centered.square().mean(axes: [2], keepDimensions: true)
        return try (centered * (variance + epsilon).rsqrt()).reshape(input.shape)
    }
}
