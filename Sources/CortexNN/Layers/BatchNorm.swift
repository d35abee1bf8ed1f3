import CortexCore

/// Batch normalisation over the channel axis (axis 1) of (N, C), (N, C, L) or (N, C, H, W)
/// input, as `nn.BatchNorm1d/2d`: in training, normalise with the batch's biased variance and
/// update the running statistics (unbiased variance, `momentum`); in evaluation, use them.
/// Buffers are named `running_mean`, `running_var` and `num_batches_tracked` as in PyTorch.
public class BatchNorm: Module, Layer, @unchecked Sendable {
    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    @Buffer public var runningMean: Tensor?
    @Buffer public var runningVar: Tensor?
    @Buffer public var numBatchesTracked: Tensor?
    public let numFeatures: Int
    public let epsilon: Float
    /// Weight of the newest batch in the running statistics; nil means a cumulative average.
    public let momentum: Float?
    let acceptedRanks: [Int]

    init(_ numFeatures: Int, epsilon: Float, momentum: Float?, affine: Bool, trackRunningStatistics: Bool, acceptedRanks: [Int]) {
        self.numFeatures = numFeatures
        self.epsilon = epsilon
        self.momentum = momentum
        self.acceptedRanks = acceptedRanks
        self.weight = affine ? try! Tensor.ones([numFeatures]) : nil
        self.bias = affine ? try! Tensor.zeros([numFeatures]) : nil
        self.runningMean = trackRunningStatistics ? try! Tensor.zeros([numFeatures]) : nil
        self.runningVar = trackRunningStatistics ? try! Tensor.ones([numFeatures]) : nil
        self.numBatchesTracked = trackRunningStatistics ? try! Tensor.zeros([], dtype: .int64) : nil
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard acceptedRanks.contains(input.rank), input.shape[1] == numFeatures else {
            throw CortexError.shapeMismatch(operation: String(describing: type(of: self)), shapes: [input.shape],
                                            reason: "must have rank \(acceptedRanks.map(String.init).joined(separator: " or ")) with \(numFeatures) channels on axis 1")
        }
        let axes = [0] + Array(2..<input.rank)
        let broadcastShape = [1, numFeatures] + Array(repeating: 1, count: input.rank - 2)
        let mean: Tensor, variance: Tensor
        let useBatchStatistics = isTraining || runningMean == nil
        if useBatchStatistics {
            let count = axes.reduce(1) { $0 * input.shape[$1] }
            guard count > 1 || !isTraining else {
                throw CortexError.invalidArgument(operation: String(describing: type(of: self)),
                                                  reason: "training needs more than one value per channel, got input shape \(input.shape)")
            }
            mean = try input.mean(axes: axes, keepDimensions: true)
            variance = try input.variance(axes: axes, correction: 0, keepDimensions: true)
            if isTraining, let runningMean, let runningVar, let numBatchesTracked {
                try withNoGrad {
                    let tracked = try numBatchesTracked.toIntArray()[0] + 1
                    try numBatchesTracked.fill(with: Double(tracked))
                    let factor = momentum ?? 1 / Float(tracked)
                    let unbiased = try variance.reshape([numFeatures]) * (Float(count) / Float(Swift.max(count - 1, 1)))
                    try runningMean.copy(from: runningMean * (1 - factor) + mean.reshape([numFeatures]) * factor)
                    try runningVar.copy(from: runningVar * (1 - factor) + unbiased * factor)
                }
            }
        } else {
            mean = try runningMean!.reshape(broadcastShape)
            variance = try runningVar!.reshape(broadcastShape)
        }
        var output = try (input - mean) * (variance + epsilon).rsqrt()
        if let weight { output = try output * weight.reshape(broadcastShape) }
        if let bias { output = try output + bias.reshape(broadcastShape) }
        return output
    }
}

/// Batch normalisation of (N, C) or (N, C, L), as `nn.BatchNorm1d`.
public final class BatchNorm1d: BatchNorm, @unchecked Sendable {
    public init(_ numFeatures: Int, epsilon: Float = 1e-5, momentum: Float? = 0.1, affine: Bool = true,
                trackRunningStatistics: Bool = true) {
        super.init(numFeatures, epsilon: epsilon, momentum: momentum, affine: affine,
                   trackRunningStatistics: trackRunningStatistics, acceptedRanks: [2, 3])
    }
}

/// Batch normalisation of (N, C, H, W), as `nn.BatchNorm2d`.
public final class BatchNorm2d: BatchNorm, @unchecked Sendable {
    public init(_ numFeatures: Int, epsilon: Float = 1e-5, momentum: Float? = 0.1, affine: Bool = true,
                trackRunningStatistics: Bool = true) {
        super.init(numFeatures, epsilon: epsilon, momentum: momentum, affine: affine,
                   trackRunningStatistics: trackRunningStatistics, acceptedRanks: [4])
    }
}
