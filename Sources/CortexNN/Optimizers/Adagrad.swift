import CortexCore

/// Adagrad, as `torch.optim.Adagrad`: learning rate divided by the root of the summed squared
/// gradients, with learning-rate decay and L2 weight decay.
public final class Adagrad: GroupedOptimizer<Adagrad.Options>, @unchecked Sendable {
    public struct Options: OptimizerOptions {
        public var learningRate: Float
        public var learningRateDecay: Float = 0
        public var weightDecay: Float = 0
        public var initialAccumulatorValue: Float = 0
        public var epsilon: Float = 1e-10
        public init(learningRate: Float = 1e-2, learningRateDecay: Float = 0, weightDecay: Float = 0,
                    initialAccumulatorValue: Float = 0, epsilon: Float = 1e-10) {
            self.learningRate = learningRate
            self.learningRateDecay = learningRateDecay
            self.weightDecay = weightDecay
            self.initialAccumulatorValue = initialAccumulatorValue
            self.epsilon = epsilon
        }
    }

    public convenience init(_ parameters: [Tensor], learningRate: Float = 1e-2, learningRateDecay: Float = 0, weightDecay: Float = 0,
                            initialAccumulatorValue: Float = 0, epsilon: Float = 1e-10) {
        self.init(groups: [ParameterGroup(parameters, Options(learningRate: learningRate, learningRateDecay: learningRateDecay,
                                                               weightDecay: weightDecay, initialAccumulatorValue: initialAccumulatorValue,
                                                               epsilon: epsilon))])
    }

    public override func update(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor],
                                step: Int) throws -> Tensor {
        var gradient = gradient
        if options.weightDecay != 0 { gradient = try gradient + parameter * options.weightDecay }
        let learningRate = options.learningRate / (1 + Float(step - 1) * options.learningRateDecay)
        let initial = try Tensor.full(gradient.shape, value: Double(options.initialAccumulatorValue), device: gradient.device)
        let sum = try (state["sum"] ?? initial) + gradient.square()
        state["sum"] = sum
        return try parameter - gradient / (sum.sqrt() + options.epsilon) * learningRate
    }
}
