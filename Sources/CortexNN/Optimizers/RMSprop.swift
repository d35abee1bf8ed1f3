import CortexCore

/// RMSprop, as `torch.optim.RMSprop`: squared-gradient running average with `alpha`, optional
/// centring, momentum and L2 weight decay.
public final class RMSprop: GroupedOptimizer<RMSprop.Options>, @unchecked Sendable {
    public struct Options: OptimizerOptions {
        public var learningRate: Float
        public var alpha: Float = 0.99
        public var epsilon: Float = 1e-8
        public var weightDecay: Float = 0
        public var momentum: Float = 0
        public var centered = false
        public init(learningRate: Float = 1e-2, alpha: Float = 0.99, epsilon: Float = 1e-8, weightDecay: Float = 0,
                    momentum: Float = 0, centered: Bool = false) {
            self.learningRate = learningRate
            self.alpha = alpha
            self.epsilon = epsilon
            self.weightDecay = weightDecay
            self.momentum = momentum
            self.centered = centered
        }
    }

    public convenience init(_ parameters: [Tensor], learningRate: Float = 1e-2, alpha: Float = 0.99, epsilon: Float = 1e-8,
                            weightDecay: Float = 0, momentum: Float = 0, centered: Bool = false) {
        self.init(groups: [ParameterGroup(parameters, Options(learningRate: learningRate, alpha: alpha, epsilon: epsilon,
                                                               weightDecay: weightDecay, momentum: momentum, centered: centered))])
    }

    public override func update(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor],
                                step: Int) throws -> Tensor {
        var gradient = gradient
        if options.weightDecay != 0 { gradient = try gradient + parameter * options.weightDecay }
        let squareAverage = try (state["square_avg"] ?? Tensor.zeros(like: gradient)) * options.alpha
            + gradient.square() * (1 - options.alpha)
        state["square_avg"] = squareAverage
        var average: Tensor
        if options.centered {
            let gradientAverage = try (state["grad_avg"] ?? Tensor.zeros(like: gradient)) * options.alpha + gradient * (1 - options.alpha)
            state["grad_avg"] = gradientAverage
            average = try (squareAverage - gradientAverage.square()).sqrt() + options.epsilon
        } else {
            average = try squareAverage.sqrt() + options.epsilon
        }
        if options.momentum > 0 {
            let buffer = try (state["momentum_buffer"] ?? Tensor.zeros(like: gradient)) * options.momentum + gradient / average
            state["momentum_buffer"] = buffer
            return try parameter - buffer * options.learningRate
        }
        average = try gradient / average
        return try parameter - average * options.learningRate
    }
}
