import CortexCore

/// How a loss combines per-element values, as PyTorch's `reduction` argument.
public enum Reduction: Sendable {
    case mean, sum, none
}

/// Loss functions with PyTorch's definitions and defaults (`torch.nn.functional`).
///
/// ```swift
/// let loss = try Loss.crossEntropy(logits, targets: labels, labelSmoothing: 0.1)
/// try loss.backward()
/// ```
public enum Loss {
    static func reduce(_ values: Tensor, _ reduction: Reduction) throws -> Tensor {
        switch reduction {
        case .mean: return try values.mean()
        case .sum: return try values.sum()
        case .none: return values
        }
    }

    static func requireSameShape(_ input: Tensor, _ target: Tensor, _ operation: String) throws {
        guard input.shape == target.shape else {
            throw CortexError.shapeMismatch(operation: operation, shapes: [input.shape, target.shape], reason: "(input and target) differ")
        }
    }

    /// Mean squared error.
    public static func mse(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try requireSameShape(input, target, "mse")
        return try reduce((input - target).square(), reduction)
    }

    /// Mean absolute error.
    public static func l1(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try requireSameShape(input, target, "l1")
        return try reduce((input - target).abs(), reduction)
    }

    /// Huber loss: 0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere.
    public static func huber(_ input: Tensor, _ target: Tensor, delta: Float = 1, reduction: Reduction = .mean) throws -> Tensor {
        try requireSameShape(input, target, "huber")
        guard delta > 0 else { throw CortexError.invalidArgument(operation: "huber", reason: "delta \(delta) must be positive") }
        let magnitude = try (input - target).abs()
        let quadratic = try magnitude.clamp(max: delta)
        let linear = try magnitude - quadratic
        return try reduce(quadratic.square() * 0.5 + linear * delta, reduction)
    }

    /// Binary cross-entropy on probabilities; each log is clamped at -100 as PyTorch does.
    public static func binaryCrossEntropy(_ probabilities: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                          reduction: Reduction = .mean) throws -> Tensor {
        try requireSameShape(probabilities, target, "binaryCrossEntropy")
        let logP = try probabilities.log().clamp(min: -100)
        let logNotP = try (1 - probabilities).log().clamp(min: -100)
        var values = try -(target * logP + (1 - target) * logNotP)
        if let weight { values = try values * weight }
        return try reduce(values, reduction)
    }

    /// Binary cross-entropy on logits, computed stably:
    /// (1 - y) x + (1 + (posWeight - 1) y) softplus(-x).
    public static func binaryCrossEntropyWithLogits(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                                    positiveWeight: Tensor? = nil, reduction: Reduction = .mean) throws -> Tensor {
        try requireSameShape(logits, target, "binaryCrossEntropyWithLogits")
        let softplusOfNegative = try (-logits).softplus()
        let scale = try positiveWeight.map { try (($0 - 1) * target) + 1 }
        var values = try (1 - target) * logits + (scale.map { try $0 * softplusOfNegative } ?? softplusOfNegative)
        if let weight { values = try values * weight }
        return try reduce(values, reduction)
    }

    /// KL divergence with `input` as log-probabilities, as `F.kl_div`: target (log target - input),
    /// 0 where the target is 0; `.mean` averages over every element (PyTorch's default), `batchMean` divides by the batch size.
    public static func klDivergence(_ input: Tensor, _ target: Tensor, reduction: KLReduction = .mean, logTarget: Bool = false) throws -> Tensor {
        try requireSameShape(input, target, "klDivergence")
        let values: Tensor
        if logTarget {
            values = try target.exp() * (target - input)
        } else {
            let positive = try target .> 0
            let safeLog = try Tensor.where(positive, target, Tensor.ones([], device: target.device)).log()
            values = try Tensor.where(positive, target * (safeLog - input), Tensor.zeros([], device: target.device))
        }
        switch reduction {
        case .mean: return try values.mean()
        case .sum: return try values.sum()
        case .none: return values
        case .batchMean: return try values.sum() / Float(max(input.shape.first ?? 1, 1))
        }
    }

    public enum KLReduction: Sendable { case mean, batchMean, sum, none }

    /// Sum of |p| over the parameters, times `strength` (add to a loss for L1 regularisation).
    public static func l1Penalty(_ parameters: [Tensor], strength: Float) throws -> Tensor {
        try parameters.reduce(Tensor.zeros([])) { try $0 + $1.abs().sum() } * strength
    }

    /// Sum of p^2 over the parameters, times `strength` (L2 regularisation; for plain SGD the
    /// same as weight decay 2 * strength).
    public static func l2Penalty(_ parameters: [Tensor], strength: Float) throws -> Tensor {
        try parameters.reduce(Tensor.zeros([])) { try $0 + $1.square().sum() } * strength
    }
}
