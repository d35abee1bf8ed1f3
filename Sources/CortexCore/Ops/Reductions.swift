/// Reductions over any axes, with `keepDimensions` as PyTorch's `keepdim`.
///
/// ```swift
/// let x = try Tensor([[1, 2], [3, 4]])
/// try x.sum()                                   // 10
/// try x.mean(axes: [0])                         // [2, 3]
/// let (values, indices) = try x.max(axis: 1)    // [2, 4], [1, 1]
/// ```
extension Tensor {
    func reduced(_ operation: ReduceOperation, axes: [Int], name: String) throws -> (Tensor, [Int]) {
        try requireFloat32(name)
        let outputShape = (0..<rank).filter { !axes.contains($0) }.map { shape[$0] }
        let output = try Tensor.empty(outputShape, device: device)
        try backend.reduce(operation, storage, layout, axes: axes, into: output.storage)
        FLOPCounter.record(.reduction, count)
        let keptShape = (0..<rank).map { axes.contains($0) ? 1 : shape[$0] }
        return (output, keptShape)
    }

    /// Sum over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDimensions: Bool = false) throws -> Tensor {
        let resolved = try Shapes.normalize(axes: axes, rank: rank, operation: "sum")
        let (output, keptShape) = try reduced(.sum, axes: resolved, name: "sum")
        let inputShape = shape
        let result = keepDimensions ? try output.reshape(keptShape) : output
        return result.detach().recorded("sum", [self]) { gradient in
            [try gradient.reshape(keptShape).expand(inputShape).contiguous()]
        }
    }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDimensions: Bool = false) throws -> Tensor {
        let resolved = try Shapes.normalize(axes: axes, rank: rank, operation: "mean")
        let count = resolved.reduce(1) { $0 * shape[$1] }
        return try sum(axes: resolved, keepDimensions: keepDimensions) * (1 / Float(Swift.max(count, 1)))
    }

    /// The largest element; ties share the gradient evenly, as PyTorch.
    public func max() throws -> Tensor { try extremeOfAll(.maximum, name: "max") }

    /// The smallest element; ties share the gradient evenly, as PyTorch.
    public func min() throws -> Tensor { try extremeOfAll(.minimum, name: "min") }

    /// Largest values over `axes` (ties share the gradient), as `torch.amax`.
    public func amax(axes: [Int]? = nil, keepDimensions: Bool = false) throws -> Tensor {
        try extreme(.maximum, axes: axes, keepDimensions: keepDimensions, name: "amax")
    }

    /// Smallest values over `axes` (ties share the gradient), as `torch.amin`.
    public func amin(axes: [Int]? = nil, keepDimensions: Bool = false) throws -> Tensor {
        try extreme(.minimum, axes: axes, keepDimensions: keepDimensions, name: "amin")
    }

    private func extremeOfAll(_ operation: ReduceOperation, name: String) throws -> Tensor {
        guard count > 0 else { throw CortexError.invalidArgument(operation: name, reason: "empty tensor of shape \(shape)") }
        return try extreme(operation, axes: nil, keepDimensions: false, name: name)
    }

    private func extreme(_ operation: ReduceOperation, axes: [Int]?, keepDimensions: Bool, name: String) throws -> Tensor {
        let resolved = try Shapes.normalize(axes: axes, rank: rank, operation: name)
        let (output, keptShape) = try reduced(operation, axes: resolved, name: name)
        let input = detach()
        let kept = try output.reshape(keptShape)
        let result = keepDimensions ? kept : output
        return result.detach().recorded(name, [self]) { gradient in
            let winners = try (input .== kept).to(.float32)
            let share = try winners / winners.sum(axes: resolved, keepDimensions: true)
            return [try gradient.reshape(keptShape) * share]
        }
    }

    /// Largest values along `axis` and their positions (int64), as `torch.max(dim)`.
    public func max(axis: Int, keepDimensions: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try extremeWithIndices(maximum: true, axis: axis, keepDimensions: keepDimensions)
    }

    /// Smallest values along `axis` and their positions (int64), as `torch.min(dim)`.
    public func min(axis: Int, keepDimensions: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try extremeWithIndices(maximum: false, axis: axis, keepDimensions: keepDimensions)
    }

    private func extremeWithIndices(maximum: Bool, axis: Int, keepDimensions: Bool) throws -> (values: Tensor, indices: Tensor) {
        let name = maximum ? "max" : "min"
        try requireFloat32(name)
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: name)
        guard shape[resolved] > 0 else {
            throw CortexError.invalidArgument(operation: name, reason: "axis \(axis) of shape \(shape) is empty")
        }
        var outputShape = shape
        outputShape.remove(at: resolved)
        let values = try Tensor.empty(outputShape, device: device)
        let indices = try Tensor.empty(outputShape, dtype: .int64, device: device)
        try backend.extremeWithIndex(maximum: maximum, storage, layout, axis: resolved, values: values.storage, indices: indices.storage)
        var keptShape = shape
        keptShape[resolved] = 1
        let keptIndices = try indices.reshape(keptShape)
        let inputShape = shape
        let outputValues = keepDimensions ? try values.reshape(keptShape) : values
        let recorded = outputValues.recorded(name, [self]) { gradient in
            let full = try Tensor.zeros(inputShape, device: gradient.device)
            return [try full.scatterAdd(axis: resolved, index: keptIndices, source: gradient.reshape(keptShape))]
        }
        return (recorded, keepDimensions ? keptIndices : indices)
    }

    /// Position of the largest element along `axis`, or in the flattened tensor when nil.
    public func argmax(axis: Int? = nil, keepDimensions: Bool = false) throws -> Tensor {
        guard let axis else { return try flatten().detach().max(axis: 0).indices }
        return try detach().max(axis: axis, keepDimensions: keepDimensions).indices
    }

    /// Position of the smallest element along `axis`, or in the flattened tensor when nil.
    public func argmin(axis: Int? = nil, keepDimensions: Bool = false) throws -> Tensor {
        guard let axis else { return try flatten().detach().min(axis: 0).indices }
        return try detach().min(axis: axis, keepDimensions: keepDimensions).indices
    }

    /// Variance over `axes` with Bessel's correction by default (`correction: 1`), as `torch.var`.
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDimensions: Bool = false) throws -> Tensor {
        let resolved = try Shapes.normalize(axes: axes, rank: rank, operation: "var")
        let count = resolved.reduce(1) { $0 * shape[$1] }
        let centered = try self - mean(axes: resolved, keepDimensions: true)
        let divisor = Float(Swift.max(count - correction, 0))
        return try centered.square().sum(axes: resolved, keepDimensions: keepDimensions) / divisor
    }

    /// Standard deviation over `axes`, as `torch.std`.
    public func standardDeviation(axes: [Int]? = nil, correction: Int = 1, keepDimensions: Bool = false) throws -> Tensor {
        try variance(axes: axes, correction: correction, keepDimensions: keepDimensions).sqrt()
    }

    /// log(sum(exp(x))) over `axes`, computed stably by factoring out the maximum.
    public func logsumexp(axes: [Int]? = nil, keepDimensions: Bool = false) throws -> Tensor {
        let resolved = try Shapes.normalize(axes: axes, rank: rank, operation: "logsumexp")
        let maximum = try amax(axes: resolved, keepDimensions: true).detach()
        // An all -inf slice would give inf - inf; shift by 0 there instead.
        let shift = try Tensor.where(maximum.abs() .== Float.infinity, Tensor.zeros([], device: device), maximum)
        let summed = try (self - shift).exp().sum(axes: resolved, keepDimensions: true).log() + shift
        return keepDimensions ? summed : try summed.reshape((0..<rank).filter { !resolved.contains($0) }.map { shape[$0] })
    }
}
