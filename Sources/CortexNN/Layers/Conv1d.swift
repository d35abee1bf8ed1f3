import CortexCore

/// 1-D convolution over (N, C, L), as `nn.Conv1d` (stride, padding, dilation, groups); the
/// weight is (outChannels, inChannels / max(groups, 1), kernelSize). Runs as a 2-D convolution of
/// height 1.
public final class Conv1d: Module, Layer, @unchecked Sendable {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?
    public let inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int, groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
                groups: Int = 1, bias: Bool = true, generator: RandomGenerator = .default) {
        (self.inChannels, self.outChannels, self.kernelSize) = (inChannels, outChannels, kernelSize)
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
        self.weight = try! Initializers.defaultWeight([outChannels, inChannels / max(groups, 1), kernelSize], generator: generator)
        self.bias = bias ? try! Initializers.defaultBias(outChannels, fanIn: inChannels / max(groups, 1) * kernelSize, generator: generator) : nil
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
            throw CortexError.invalidArgument(operation: "Conv1d", reason: "groups \(groups) must divide in channels \(inChannels) and out channels \(outChannels)")
        }
        guard input.rank == 3, input.shape[1] == inChannels else {
            throw CortexError.shapeMismatch(operation: "Conv1d", shapes: [input.shape, weight.shape],
                                            reason: "(input must be (N, \(inChannels), L))")
        }
        let output = try convolution2d(input.unsqueeze(2), weight: masked("weight", weight).unsqueeze(2),
                                       bias: bias.map { try masked("bias", $0) }, stride: (1, stride),
                                       padding: (0, padding), dilation: (1, dilation), groups: groups)
        return try output.squeeze(2)
    }
}
