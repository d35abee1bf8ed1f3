import CortexCore

/// 2-D convolution over (N, C, H, W) as `nn.Conv2d`: stride, zero padding, dilation and groups;
/// weight (outChannels, inChannels / max(groups, 1), kh, kw) and bias initialised as PyTorch does.
/// Computed as im2col followed by one matrix product per group.
///
/// ```swift
/// let conv = Conv2d(1, 32, kernelSize: (3, 3), padding: (1, 1))
/// let features = try conv(images)       // (N, 32, H, W)
/// ```
public final class Conv2d: Module, Layer, @unchecked Sendable {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?
    public let inChannels: Int, outChannels: Int, groups: Int
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
    /// The layer's int8 form (``Int8Quantization``): while set and quantised, forward passes
    /// compute in int8 (im2col rows times the int8 weights) and give no gradients.
    public internal(set) var int8: Int8LayerState?

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                generator: RandomGenerator = .default) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.groups = groups
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        let shape = [outChannels, inChannels / max(groups, 1), kernelSize.0, kernelSize.1]
        self.weight = try! Initializers.defaultWeight(shape, generator: generator)
        let fanIn = inChannels / max(groups, 1) * kernelSize.0 * kernelSize.1
        self.bias = bias ? try! Initializers.defaultBias(outChannels, fanIn: fanIn, generator: generator) : nil
        super.init()
    }

    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true, generator: RandomGenerator = .default) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), dilation: (dilation, dilation), groups: groups, bias: bias, generator: generator)
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
            throw CortexError.invalidArgument(operation: "Conv2d", reason: "groups \(groups) must divide in channels \(inChannels) and out channels \(outChannels)")
        }
        guard input.rank == 4, input.shape[1] == inChannels else {
            throw CortexError.shapeMismatch(operation: "Conv2d", shapes: [input.shape, weight.shape],
                                            reason: "(input must be (N, \(inChannels), H, W))")
        }
        let bias = try self.bias.map { try masked("bias", $0) }
        if let int8, groups == 1 {
            if let matrix = int8.matrix, let activations = int8.activations {
                return try int8Convolution(input, matrix: matrix, activations: activations, bias: bias)
            }
            try int8.observe(input)
        }
        return try convolution2d(input, weight: masked("weight", weight), bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// The convolution as int8 products: each output position's window (an im2col row of
    /// C * kh * kw values) quantised as one activation row.
    private func int8Convolution(_ input: Tensor, matrix: Int8Matrix, activations: Int8Activations, bias: Tensor?) throws -> Tensor {
        let batch = input.shape[0]
        let columns = try input.im2col(kernel: kernelSize, stride: stride, padding: padding, dilation: dilation)
        let (windowValues, positions) = (columns.shape[1], columns.shape[2])
        let outputHeight = (input.shape[2] + 2 * padding.0 - dilation.0 * (kernelSize.0 - 1) - 1) / stride.0 + 1
        let rows = try columns.permute([0, 2, 1]).reshape([batch * positions, windowValues])
        let product = try matrix.product(rows, bias: bias, activations: activations)
        return try product.reshape([batch, outputHeight, positions / outputHeight, outChannels]).permute([0, 3, 1, 2]).contiguous()
    }
}

/// Convolution of (N, C, H, W) with (O, C / groups, kh, kw) by im2col and matrix products.
/// One group: the whole batch is one product, (O, K) x (K, N * L), on columns laid out batch
/// inside, so the product's tiles are full and the weight gradient needs no per-image sum.
/// Several groups: one product per group, (O_g, K) x (N, K, L) -> (N, O_g, L).
func convolution2d(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                   dilation: (Int, Int), groups: Int) throws -> Tensor {
    let (batch, outChannels) = (input.shape[0], weight.shape[0])
    let kernel = (weight.shape[2], weight.shape[3])
    let columns = try input.im2col(kernel: kernel, stride: stride, padding: padding, dilation: dilation, foldingBatch: groups == 1)
    let outputHeight = (input.shape[2] + 2 * padding.0 - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1
    let outputWidth = (input.shape[3] + 2 * padding.1 - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1
    let groupRows = weight.shape[1] * kernel.0 * kernel.1
    let flatWeight = try weight.reshape([outChannels, groupRows])
    var output: Tensor
    if groups == 1 {
        // (O, K) x (K, N * L) -> (O, N, OH, OW), viewed as (N, O, OH, OW); the bias add (or
        // contiguous()) writes it out in NCHW order.
        let matrix = try columns.permute([1, 0, 2]).reshape([groupRows, batch * outputHeight * outputWidth])
        output = try flatWeight.matmul(matrix).reshape([outChannels, batch, outputHeight, outputWidth]).permute([1, 0, 2, 3])
    } else {
        let groupOutputs = outChannels / groups
        let pieces = try (0..<groups).map { group in
            try flatWeight.slice(axis: 0, start: group * groupOutputs, end: (group + 1) * groupOutputs)
                .matmul(columns.slice(axis: 1, start: group * groupRows, end: (group + 1) * groupRows))
        }
        output = try Tensor.cat(pieces, axis: 1).reshape([batch, outChannels, outputHeight, outputWidth])
    }
    if let bias { return try output + bias.reshape([1, outChannels, 1, 1]) }
    return try output.contiguous()
}
