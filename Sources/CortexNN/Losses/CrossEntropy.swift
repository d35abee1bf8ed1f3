import CortexCore

extension Loss {
    /// Negative log-likelihood of class indices under `logProbabilities` (N, C) or (N, C, d1, ...),
    /// as `F.nll_loss`: optional per-class `weight`, targets equal to `ignoreIndex` contribute
    /// nothing, and `.mean` divides by the summed weights of the counted targets.
    public static func nll(_ logProbabilities: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                           reduction: Reduction = .mean) throws -> Tensor {
        let (flat, flatTargets, restore) = try flattenClasses(logProbabilities, targets, operation: "nll")
        let classes = flat.shape[1]
        let ignored = try flatTargets .== Float(ignoreIndex)
        let kept = try (ignored .== 0).to(.float32)
        // Ignored positions look up class 0 and are then masked out.
        let safeTargets = try Tensor.where(ignored, Tensor.zeros([], dtype: flatTargets.dtype, device: flatTargets.device), flatTargets)
        let targetValues = try safeTargets.toIntArray()
        if let bad = targetValues.first(where: { $0 < 0 || $0 >= classes }) {
            throw CortexError.indexOutOfRange(operation: "nll", index: bad, bound: classes)
        }
        let picked = try flat.gather(axis: 1, index: safeTargets.unsqueeze(1)).squeeze(1)
        let weights = try (weight.map { try $0.indexSelect(axis: 0, indices: safeTargets) } ?? Tensor.ones(picked.shape)) * kept
        let values = try -(picked * weights)
        switch reduction {
        case .mean: return try values.sum() / weights.sum()
        case .sum: return try values.sum()
        case .none: return try values.reshape(restore)
        }
    }

    /// Cross-entropy of `logits` (N, C) or (N, C, d1, ...) against class indices (N) / (N, d1, ...)
    /// or class probabilities shaped like the logits, as `F.cross_entropy`: per-class `weight`,
    /// `ignoreIndex`, and `labelSmoothing` mixing the target with the uniform distribution.
    public static func crossEntropy(_ logits: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                                    labelSmoothing: Float = 0, reduction: Reduction = .mean) throws -> Tensor {
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw CortexError.invalidArgument(operation: "crossEntropy", reason: "label smoothing \(labelSmoothing) is outside [0, 1]")
        }
        guard logits.rank >= 2 else {
            throw CortexError.shapeMismatch(operation: "crossEntropy", shapes: [logits.shape], reason: "logits must be (N, C, ...)")
        }
        let classes = logits.shape[1]
        let logProbabilities = try logits.logSoftmax(axis: 1)
        let weightShape = [1, classes] + Array(repeating: 1, count: logits.rank - 2)

        if targets.dtype.isFloatingPoint {
            // Class probabilities.
            try requireSameShape(logits, targets, "crossEntropy")
            let smoothed = labelSmoothing > 0 ? try targets * (1 - labelSmoothing) + labelSmoothing / Float(classes) : targets
            var terms = try smoothed * logProbabilities
            if let weight { terms = try terms * weight.reshape(weightShape) }
            let values = try -terms.sum(axes: [1])
            switch reduction {
            case .mean: return try values.sum() / Float(max(logits.shape[0], 1) * logits.shape.dropFirst(2).reduce(1, *))
            case .sum: return try values.sum()
            case .none: return values
            }
        }
        let negativeLogLikelihood = try nll(logProbabilities, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                            reduction: reduction)
        guard labelSmoothing > 0 else { return negativeLogLikelihood }
        let kept = try (targets .!= Float(ignoreIndex)).to(.float32)
        var smoothTerms = logProbabilities
        if let weight { smoothTerms = try smoothTerms * weight.reshape(weightShape) }
        let smooth = try -smoothTerms.sum(axes: [1]) * kept
        let reducedSmooth: Tensor
        switch reduction {
        case .mean:
            if let weight {
                let safeTargets = try Tensor.where(kept .== 0, Tensor.zeros([], dtype: targets.dtype, device: targets.device), targets)
                let counted = try weight.indexSelect(axis: 0, indices: safeTargets.reshape([-1])) * kept.reshape([-1])
                reducedSmooth = try smooth.sum() / counted.sum()
            } else {
                reducedSmooth = try smooth.sum() / kept.sum()
            }
        case .sum: reducedSmooth = try smooth.sum()
        case .none: reducedSmooth = smooth
        }
        return try negativeLogLikelihood * (1 - labelSmoothing) + reducedSmooth * (labelSmoothing / Float(classes))
    }

    /// (N, C, d1, ...) -> (N * d1 * ..., C) with targets flattened alike; returns the shape to
    /// restore per-element losses to.
    static func flattenClasses(_ input: Tensor, _ targets: Tensor, operation: String) throws -> (Tensor, Tensor, [Int]) {
        guard input.rank >= 2 else {
            throw CortexError.shapeMismatch(operation: operation, shapes: [input.shape], reason: "input must be (N, C, ...)")
        }
        guard targets.dtype.isInteger else {
            throw CortexError.dtypeMismatch(operation: operation, expected: "int32 or int64 class indices", got: targets.dtype.rawValue)
        }
        let expectedTargets = [input.shape[0]] + Array(input.shape.dropFirst(2))
        guard targets.shape == expectedTargets else {
            throw CortexError.shapeMismatch(operation: operation, shapes: [input.shape, targets.shape],
                                            reason: "(targets must be \(expectedTargets) for this input)")
        }
        let classes = input.shape[1]
        let moved = input.rank == 2 ? input : try input.permute([0] + Array(2..<input.rank) + [1])
        return (try moved.reshape([-1, classes]), try targets.reshape([-1]), expectedTargets)
    }
}
