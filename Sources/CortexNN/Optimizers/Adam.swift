import CortexCore
import Foundation

/// Adam, as `torch.optim.Adam` (L2 weight decay added to the gradient, optional AMSGrad).
///
/// ```swift
/// let optimizer = Adam(model.parameters(), learningRate: 1e-3)
/// ```
public final class Adam: GroupedOptimizer<Adam.Options>, @unchecked Sendable {
    public struct Options: OptimizerOptions {
        public var learningRate: Float
        public var beta1: Float = 0.9
        public var beta2: Float = 0.999
        public var epsilon: Float = 1e-8
        public var weightDecay: Float = 0
        public var amsgrad = false
        /// Decay weights directly (AdamW) instead of adding weight decay to the gradient.
        public var decoupledWeightDecay = false
        public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                    weightDecay: Float = 0, amsgrad: Bool = false, decoupledWeightDecay: Bool = false) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
            self.amsgrad = amsgrad
            self.decoupledWeightDecay = decoupledWeightDecay
        }
    }

    public convenience init(_ parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                            epsilon: Float = 1e-8, weightDecay: Float = 0, amsgrad: Bool = false) {
        self.init(groups: [ParameterGroup(parameters, Options(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                                               weightDecay: weightDecay, amsgrad: amsgrad))])
    }

    public override func fusedUpdate(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor],
                                     step: Int) throws -> Bool {
        try Adam.fusedUpdate(parameter, gradient: gradient, options: options, state: &state, step: step)
    }

    public override func update(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor],
                                step: Int) throws -> Tensor {
        try Adam.update(parameter, gradient: gradient, options: options, state: &state, step: step)
    }

    /// One Adam (or, with decoupled weight decay, AdamW) update of one parameter.
    static func fusedUpdate(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor],
                            step: Int) throws -> Bool {
        let names = options.amsgrad ? ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] : ["exp_avg", "exp_avg_sq"]
        let buffers = try names.map { try state[$0] ?? Tensor.zeros(parameter.shape, device: parameter.device) }
        let rule = OptimizerRule.adam(learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2,
                                      epsilon: options.epsilon, weightDecay: options.weightDecay,
                                      decoupledWeightDecay: options.decoupledWeightDecay, amsgrad: options.amsgrad, step: step)
        guard try parameter.applyOptimizerStep(rule, gradient: gradient, state: buffers) else { return false }
        for (name, buffer) in zip(names, buffers) { state[name] = buffer }
        return true
    }

    static func update(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor],
                       step: Int) throws -> Tensor {
        var parameter = parameter
        var gradient = gradient
        if options.weightDecay != 0 {
            if options.decoupledWeightDecay {
                parameter = try parameter * (1 - options.learningRate * options.weightDecay)
            } else {
                gradient = try gradient + parameter * options.weightDecay
            }
        }
        let firstMoment = try (state["exp_avg"] ?? Tensor.zeros(like: gradient)) * options.beta1 + gradient * (1 - options.beta1)
        let secondMoment = try (state["exp_avg_sq"] ?? Tensor.zeros(like: gradient)) * options.beta2
            + gradient.square() * (1 - options.beta2)
        state["exp_avg"] = firstMoment
        state["exp_avg_sq"] = secondMoment
        var denominatorMoment = secondMoment
        if options.amsgrad {
            let maximum = try state["max_exp_avg_sq"].map { try $0.maximum(secondMoment) } ?? secondMoment.clone()
            state["max_exp_avg_sq"] = maximum
            denominatorMoment = maximum
        }
        let biasCorrection1 = 1 - Foundation.pow(Double(options.beta1), Double(step))
        let biasCorrection2 = 1 - Foundation.pow(Double(options.beta2), Double(step))
        let stepSize = Float(Double(options.learningRate) / biasCorrection1)
        let denominator = try denominatorMoment.sqrt() * Float(1 / biasCorrection2.squareRoot()) + options.epsilon
        return try parameter - firstMoment / denominator * stepSize
    }
}

/// AdamW: Adam with decoupled weight decay (default 0.01), as `torch.optim.AdamW`.
public final class AdamW: GroupedOptimizer<Adam.Options>, @unchecked Sendable {
    public convenience init(_ parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                            epsilon: Float = 1e-8, weightDecay: Float = 0.01, amsgrad: Bool = false) {
        self.init(groups: [ParameterGroup(parameters, AdamW.options(learningRate: learningRate, beta1: beta1, beta2: beta2,
                                                                     epsilon: epsilon, weightDecay: weightDecay, amsgrad: amsgrad))])
    }

    /// AdamW settings for one parameter group.
    public static func options(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                               weightDecay: Float = 0.01, amsgrad: Bool = false) -> Adam.Options {
        Adam.Options(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay,
                     amsgrad: amsgrad, decoupledWeightDecay: true)
    }

    public override func fusedUpdate(_ parameter: Tensor, gradient: Tensor, options: Adam.Options, state: inout [String: Tensor],
                                     step: Int) throws -> Bool {
        try Adam.fusedUpdate(parameter, gradient: gradient, options: options, state: &state, step: step)
    }

    public override func update(_ parameter: Tensor, gradient: Tensor, options: Adam.Options, state: inout [String: Tensor],
                                step: Int) throws -> Tensor {
        try Adam.update(parameter, gradient: gradient, options: options, state: &state, step: step)
    }
}
