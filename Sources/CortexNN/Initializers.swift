import CortexCore
import Foundation

/// Weight initialisers with PyTorch's definitions (`torch.nn.init`), drawing from a seeded
/// ``RandomGenerator``. Fans follow PyTorch: for a (out, in, k1, k2, ...) weight,
/// fan_in = in * k1 * k2 * ..., fan_out = out * k1 * k2 * ....
///
/// ```swift
/// let weight = try Initializers.kaimingUniform([128, 784], a: 5.0.squareRoot())
/// ```
public enum Initializers {
    public static func fans(_ shape: [Int]) throws -> (fanIn: Int, fanOut: Int) {
        guard shape.count >= 2 else {
            throw CortexError.invalidArgument(operation: "fans", reason: "fan in and out need a weight of at least 2 axes, got \(shape)")
        }
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// PyTorch's `calculate_gain` for the common nonlinearities.
    public static func gain(_ nonlinearity: String, parameter: Double? = nil) -> Double {
        switch nonlinearity {
        case "relu": return 2.0.squareRoot()
        case "tanh": return 5.0 / 3.0
        case "leaky_relu":
            let slope = parameter ?? 0.01
            return (2.0 / (1 + slope * slope)).squareRoot()
        case "selu": return 3.0 / 4.0
        default: return 1 // linear, conv, sigmoid
        }
    }

    public static func uniform(_ shape: [Int], low: Float, high: Float, generator: RandomGenerator = .default) throws -> Tensor {
        try Tensor.uniform(shape, low: low, high: high, generator: generator)
    }

    public static func normal(_ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, generator: RandomGenerator = .default) throws -> Tensor {
        try Tensor.randn(shape, mean: mean, standardDeviation: standardDeviation, generator: generator)
    }

    public static func zeros(_ shape: [Int]) throws -> Tensor { try Tensor.zeros(shape) }
    public static func ones(_ shape: [Int]) throws -> Tensor { try Tensor.ones(shape) }
    public static func constant(_ shape: [Int], value: Float) throws -> Tensor { try Tensor.full(shape, value: Double(value)) }

    /// Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
    public static func xavierUniform(_ shape: [Int], gain: Double = 1, generator: RandomGenerator = .default) throws -> Tensor {
        let (fanIn, fanOut) = try fans(shape)
        let bound = Float(gain * (6.0 / Double(fanIn + fanOut)).squareRoot())
        return try uniform(shape, low: -bound, high: bound, generator: generator)
    }

    /// Glorot normal: N(0, gain^2 * 2 / (fan_in + fan_out)).
    public static func xavierNormal(_ shape: [Int], gain: Double = 1, generator: RandomGenerator = .default) throws -> Tensor {
        let (fanIn, fanOut) = try fans(shape)
        return try normal(shape, standardDeviation: Float(gain * (2.0 / Double(fanIn + fanOut)).squareRoot()), generator: generator)
    }

    /// He uniform with leaky-ReLU slope `a` over fan_in (or fan_out): U(-b, b),
    /// b = gain(a) * sqrt(3 / fan). With a = sqrt(5) this is PyTorch's Linear/Conv default.
    public static func kaimingUniform(_ shape: [Int], a: Double = 0, fanOutMode: Bool = false,
                                      nonlinearity: String = "leaky_relu", generator: RandomGenerator = .default) throws -> Tensor {
        let (fanIn, fanOut) = try fans(shape)
        let fan = Double(fanOutMode ? fanOut : fanIn)
        let bound = Float(gain(nonlinearity, parameter: a) * (3.0 / fan).squareRoot())
        return try uniform(shape, low: -bound, high: bound, generator: generator)
    }

    /// He normal: N(0, gain(a)^2 / fan).
    public static func kaimingNormal(_ shape: [Int], a: Double = 0, fanOutMode: Bool = false,
                                     nonlinearity: String = "leaky_relu", generator: RandomGenerator = .default) throws -> Tensor {
        let (fanIn, fanOut) = try fans(shape)
        let fan = Double(fanOutMode ? fanOut : fanIn)
        return try normal(shape, standardDeviation: Float(gain(nonlinearity, parameter: a) / fan.squareRoot()), generator: generator)
    }

    /// PyTorch's default for Linear and Conv weights: kaiming uniform with a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    static func defaultWeight(_ shape: [Int], generator: RandomGenerator) throws -> Tensor {
        try kaimingUniform(shape, a: 5.0.squareRoot(), generator: generator)
    }

    /// PyTorch's default for Linear and Conv biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    static func defaultBias(_ count: Int, fanIn: Int, generator: RandomGenerator) throws -> Tensor {
        let bound = fanIn > 0 ? Float(1 / Double(fanIn).squareRoot()) : 0
        return try uniform([count], low: -bound, high: bound, generator: generator)
    }
}
