import CortexCore

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight
/// decay, following `torch.optim.SGD` step for step.
///
/// ```swift
/// let optimizer = SGD(model.parameters(), learningRate: 0.1, momentum: 0.9)
/// try loss.backward(); try optimizer.step(); optimizer.zeroGrad()
/// ```
public final class SGD: GroupedOptimizer<SGD.Options>, @unchecked Sendable {
    public struct Options: OptimizerOptions {
        public var learningRate: Float
        public var momentum: Float = 0
        public var dampening: Float = 0
        public var weightDecay: Float = 0
        public var nesterov = false
        public var maximize = false
        public init(learningRate: Float, momentum: Float = 0, dampening: Float = 0, weightDecay: Float = 0,
                    nesterov: Bool = false, maximize: Bool = false) {
            self.learningRate = learningRate
            self.momentum = momentum
            self.dampening = dampening
            self.weightDecay = weightDecay
            self.nesterov = nesterov
            self.maximize = maximize
        }
    }

    public convenience init(_ parameters: [Tensor], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                            weightDecay: Float = 0, nesterov: Bool = false, maximize: Bool = false) {
        self.init(groups: [ParameterGroup(parameters, Options(learningRate: learningRate, momentum: momentum, dampening: dampening,
                                                               weightDecay: weightDecay, nesterov: nesterov, maximize: maximize))])
    }

    public override func fusedUpdate(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor],
                                     step: Int) throws -> Bool {
        let previous = state["momentum_buffer"]
        let buffers = options.momentum == 0 ? [] : [try previous ?? Tensor.zeros(parameter.shape, device: parameter.device)]
        let rule = OptimizerRule.sgd(learningRate: options.learningRate, momentum: options.momentum, dampening: options.dampening,
                                     weightDecay: options.weightDecay, nesterov: options.nesterov, maximize: options.maximize,
                                     firstStep: previous == nil)
        guard try parameter.applyOptimizerStep(rule, gradient: gradient, state: buffers) else { return false }
        if let buffer = buffers.first { state["momentum_buffer"] = buffer }
        return true
    }

    public override func update(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor],
                                step: Int) throws -> Tensor {
        var direction = options.maximize ? try -gradient : gradient
        if options.weightDecay != 0 { direction = try direction + parameter * options.weightDecay }
        if options.momentum != 0 {
            let buffer: Tensor
            if let previous = state["momentum_buffer"] {
                buffer = try previous * options.momentum + direction * (1 - options.dampening)
            } else {
                buffer = try direction.clone()
            }
            state["momentum_buffer"] = buffer
            direction = options.nesterov ? try direction + buffer * options.momentum : buffer
        }
        return try parameter - direction * options.learningRate
    }
}
