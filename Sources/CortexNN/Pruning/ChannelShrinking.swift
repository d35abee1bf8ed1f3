import CortexCore

/// Structured pruning that makes the network smaller: output channels of a Conv2d (or rows of
/// a hidden Linear) are removed, together with the matching input channels of the next layer
/// and the matching entries of a BatchNorm between them, so the result is a dense ``Sequential``
/// with fewer channels that computes faster, not a masked one. The channels removed are those
/// `prune.ln_structured(amount:, n:, dim: 0)` would zero (the smallest L`n` filter norms, ties
/// broken as torch breaks them).
///
/// ```swift
/// let (smaller, report) = try ChannelShrinking.shrink(Classifiers.mnistCNN(), amount: 0.5)
/// print(report.map { "\($0.layer): \($0.before) -> \($0.after)" })   // 0: 32 -> 16, 3: 64 -> 32
/// ```
public enum ChannelShrinking {
    /// One shrunk layer: its index in the Sequential and its output channels before and after.
    public struct Change: Sendable, Codable, Equatable {
        public var layer: Int
        public var before: Int
        public var after: Int
    }

    /// Which layers to shrink by default: every Conv2d that feeds another layer, or, in a
    /// model without convolutions, every Linear that does.
    public static func defaultTargets(_ model: Sequential) -> [Int] {
        let hasConvolutions = model.layers.contains { $0 is Conv2d }
        return model.layers.indices.filter { index in
            (hasConvolutions ? model.layers[index] is Conv2d : model.layers[index] is Linear) && (try? consumer(after: index, in: model.layers)) != nil
        }
    }

    /// A copy of `model` with `amount` of the output channels of each layer in `targets`
    /// (indices into `model.layers`; default ``defaultTargets(_:)``) removed. The layers keep
    /// their masks' effect (a pruned layer's masked weights are used) but not the masks.
    public static func shrink(_ model: Sequential, amount: PruningAmount, n: Double = 1, targets: [Int]? = nil) throws -> (Sequential, [Change]) {
        try shrink(model, amounts: Dictionary((targets ?? defaultTargets(model)).map { ($0, amount) }, uniquingKeysWith: { a, _ in a }), n: n)
    }

    /// A copy of `model` with `amounts[index]` of the output channels of each layer `index`
    /// removed. Every layer's channels are ranked on `model` as it is (each layer alone, as
    /// `ln_structured` on each), then all are removed together.
    public static func shrink(_ model: Sequential, amounts: [Int: PruningAmount], n: Double = 1) throws -> (Sequential, [Change]) {
        let operation = "ChannelShrinking.shrink"
        var layers = model.layers
        var plans: [(index: Int, channels: Int, keep: [Int])] = []
        for (index, amount) in amounts.sorted(by: { $0.key < $1.key }) {
            try amount.validate(operation)
            guard layers.indices.contains(index) else { throw CortexError.indexOutOfRange(operation: operation, index: index, bound: layers.count) }
            let producer = layers[index]
            let weight: Tensor, channels: Int
            switch producer {
            case let convolution as Conv2d:
                guard convolution.groups == 1 else {
                    throw CortexError.invalidArgument(operation: operation, reason: "layer \(index) is a grouped convolution (groups \(convolution.groups))")
                }
                (weight, channels) = (try convolution.masked("weight", convolution.weight), convolution.outChannels)
            case let linear as Linear:
                (weight, channels) = (try linear.masked("weight", linear.weight), linear.outFeatures)
            default:
                throw CortexError.invalidArgument(operation: operation, reason: "layer \(index) is a \(type(of: producer)), not a Conv2d or Linear")
            }
            _ = try consumer(after: index, in: layers)
            let remove = try amount.entries(of: channels, operation, what: "output channels of layer \(index)")
            guard remove < channels else {
                throw CortexError.invalidArgument(operation: operation, reason: "amount=\(amount) would remove all \(channels) channels of layer \(index)")
            }
            let rows = try weight.detach().contiguous().reshape([channels, -1]).toFloatArray()
            let width = rows.count / channels
            let norms = (0..<channels).map { channel in Pruning.norm(rows[channel * width..<(channel + 1) * width].map(Double.init), n) }
            plans.append((index, channels, TorchSelection.topK(norms, k: channels - remove, largest: true).sorted()))
        }
        var changes: [Change] = []
        // Each plan resizes its producer's outputs, the BatchNorms after it and its consumer's inputs.
        for plan in plans {
            let (between, consumerIndex, flattened) = try consumer(after: plan.index, in: layers)
            let kept = try Tensor(integers: plan.keep)
            try withNoGrad {
                layers[plan.index] = try shrinkOutputs(layers[plan.index], kept)
                for position in between {
                    if let normalization = layers[position] as? BatchNorm { layers[position] = try shrink(normalization, kept) }
                }
                layers[consumerIndex] = try shrinkInputs(layers[consumerIndex], plan.keep, of: plan.channels, flattened: flattened)
            }
            changes.append(Change(layer: plan.index, before: plan.channels, after: plan.keep.count))
        }
        let result = Sequential(layers)
        result.train(model.isTraining)
        return (result, changes)
    }

    /// The layer that takes layer `index`'s channels, the BatchNorms on the way, and whether a
    /// Flatten lies between (so the consumer's inputs are channel-major blocks).
    static func consumer(after index: Int, in layers: [Module & Layer]) throws -> (between: [Int], consumer: Int, flattened: Bool) {
        var between: [Int] = [], flattened = false
        for position in layers.indices.dropFirst(index + 1) {
            switch layers[position] {
            case is Conv2d, is Linear: return (between, position, flattened)
            case is BatchNorm: between.append(position)
            case is Flatten: flattened = true
            case is ReLU, is LeakyReLU, is GELU, is SiLU, is Sigmoid, is Tanh, is Softplus, is MaxPool2d, is AvgPool2d,
                 is AdaptiveAvgPool2d, is Dropout:
                continue
            default:
                throw CortexError.invalidArgument(operation: "ChannelShrinking.shrink",
                                                  reason: "layer \(position) (\(type(of: layers[position]))) after layer \(index) is not known to keep channels apart")
            }
        }
        throw CortexError.invalidArgument(operation: "ChannelShrinking.shrink", reason: "layer \(index) gives the model's outputs; no later layer takes its channels")
    }

    /// A Linear's or Conv2d's bias as the layer uses it (its mask applied).
    static func maskedBias(_ layer: Module & Layer) throws -> Tensor? {
        guard let bias = (layer as? Linear)?.bias ?? (layer as? Conv2d)?.bias else { return nil }
        return try layer.masked("bias", bias)
    }

    static func shrinkOutputs(_ layer: Module & Layer, _ kept: Tensor) throws -> Module & Layer {
        let bias = try maskedBias(layer)
        if let convolution = layer as? Conv2d {
            let result = Conv2d(convolution.inChannels, kept.count, kernelSize: convolution.kernelSize, stride: convolution.stride,
                                padding: convolution.padding, dilation: convolution.dilation, bias: bias != nil)
            result.weight = try convolution.masked("weight", convolution.weight).indexSelect(axis: 0, indices: kept).contiguous()
            result.bias = try bias?.indexSelect(axis: 0, indices: kept).contiguous()
            return result
        }
        let linear = layer as! Linear
        return try Linear(weight: linear.masked("weight", linear.weight).indexSelect(axis: 0, indices: kept).contiguous(),
                          bias: bias?.indexSelect(axis: 0, indices: kept).contiguous())
    }

    static func shrinkInputs(_ layer: Module & Layer, _ keep: [Int], of channels: Int, flattened: Bool) throws -> Module & Layer {
        let bias = try maskedBias(layer)
        if let convolution = layer as? Conv2d {
            guard convolution.groups == 1, convolution.inChannels == channels else {
                throw CortexError.invalidArgument(operation: "ChannelShrinking.shrink",
                                                  reason: "a Conv2d with \(convolution.inChannels) inputs (groups \(convolution.groups)) follows a layer of \(channels) channels")
            }
            let result = Conv2d(keep.count, convolution.outChannels, kernelSize: convolution.kernelSize, stride: convolution.stride,
                                padding: convolution.padding, dilation: convolution.dilation, bias: bias != nil)
            result.weight = try convolution.masked("weight", convolution.weight).indexSelect(axis: 1, indices: Tensor(integers: keep)).contiguous()
            result.bias = bias
            return result
        }
        let linear = layer as! Linear
        guard linear.inFeatures % channels == 0, flattened || linear.inFeatures == channels else {
            throw CortexError.invalidArgument(operation: "ChannelShrinking.shrink",
                                              reason: "a Linear with \(linear.inFeatures) inputs follows a layer of \(channels) channels")
        }
        let block = linear.inFeatures / channels
        let columns = keep.flatMap { channel in channel * block..<(channel + 1) * block }
        return try Linear(weight: linear.masked("weight", linear.weight).indexSelect(axis: 1, indices: Tensor(integers: columns)).contiguous(),
                          bias: bias)
    }

    static func shrink(_ normalization: BatchNorm, _ kept: Tensor) throws -> BatchNorm {
        let result: BatchNorm = normalization is BatchNorm2d
            ? BatchNorm2d(kept.count, epsilon: normalization.epsilon, momentum: normalization.momentum, affine: normalization.weight != nil,
                          trackRunningStatistics: normalization.runningMean != nil)
            : BatchNorm1d(kept.count, epsilon: normalization.epsilon, momentum: normalization.momentum, affine: normalization.weight != nil,
                          trackRunningStatistics: normalization.runningMean != nil)
        result.weight = try normalization.weight?.indexSelect(axis: 0, indices: kept).contiguous()
        result.bias = try normalization.bias?.indexSelect(axis: 0, indices: kept).contiguous()
        result.runningMean = try normalization.runningMean?.indexSelect(axis: 0, indices: kept).contiguous()
        result.runningVar = try normalization.runningVar?.indexSelect(axis: 0, indices: kept).contiguous()
        if let tracked = normalization.numBatchesTracked { try result.numBatchesTracked?.copy(from: tracked) }
        return result
    }
}

extension ChannelShrinking {
    /// `model` with each Conv2d, Linear and BatchNorm resized to the shapes `state` gives its
    /// parameters (a shrunk model's checkpoint), other settings kept; layers whose shapes
    /// already match stay as they are.
    public static func resized(_ model: Sequential, toMatch state: [String: Tensor]) -> Sequential {
        func shape(_ index: Int, _ name: String) -> [Int]? { (state["\(index).\(name)"] ?? state["\(index).\(name)_orig"])?.shape }
        var changed = false
        let layers: [Module & Layer] = model.layers.enumerated().map { index, layer in
            switch layer {
            case let convolution as Conv2d:
                guard let weight = shape(index, "weight"), weight.count == 4, convolution.groups == 1,
                      weight[0] != convolution.outChannels || weight[1] != convolution.inChannels else { return layer }
                changed = true
                return Conv2d(weight[1], weight[0], kernelSize: convolution.kernelSize, stride: convolution.stride, padding: convolution.padding,
                              dilation: convolution.dilation, bias: convolution.bias != nil)
            case let linear as Linear:
                guard let weight = shape(index, "weight"), weight.count == 2,
                      weight[0] != linear.outFeatures || weight[1] != linear.inFeatures else { return layer }
                changed = true
                return Linear(weight[1], weight[0], bias: linear.bias != nil)
            case let normalization as BatchNorm:
                guard let features = (shape(index, "running_mean") ?? shape(index, "weight"))?.first, features != normalization.numFeatures else { return layer }
                changed = true
                let affine = normalization.weight != nil, tracking = normalization.runningMean != nil
                return normalization is BatchNorm2d
                    ? BatchNorm2d(features, epsilon: normalization.epsilon, momentum: normalization.momentum, affine: affine, trackRunningStatistics: tracking)
                    : BatchNorm1d(features, epsilon: normalization.epsilon, momentum: normalization.momentum, affine: affine, trackRunningStatistics: tracking)
            default:
                return layer
            }
        }
        return changed ? Sequential(layers) : model
    }
}
