import CortexCore
import Foundation

/// How integrated gradients approximate the path integral, with Captum's names: Gauss-Legendre
/// quadrature (Captum's default) or a Riemann sum.
public enum IntegrationMethod: String, Sendable, CaseIterable {
    case gaussLegendre = "gausslegendre"
    case riemannLeft = "riemann_left"
    case riemannRight = "riemann_right"
    case riemannMiddle = "riemann_middle"
    case riemannTrapezoid = "riemann_trapezoid"

    /// The step sizes (weights) and the points in [0, 1] at which the gradient is taken, as
    /// Captum's `approximation_parameters(method)(n)` give them.
    public func stepsAndAlphas(_ count: Int) throws -> (steps: [Double], alphas: [Double]) {
        let smallest = self == .gaussLegendre ? 1 : 2
        guard count >= smallest else {
            throw CortexError.invalidArgument(operation: "IntegratedGradients",
                                              reason: "\(count) steps for \(rawValue): it needs at least \(smallest)")
        }
        let n = Double(count)
        func linspace(_ start: Double, _ end: Double) -> [Double] {
            (0..<count).map { Double(Float(start + (end - start) * Double($0) / Double(count - 1))) }
        }
        switch self {
        case .gaussLegendre:
            let (nodes, weights) = IntegrationMethod.gaussLegendre(count)
            return (weights.map { 0.5 * $0 }, nodes.map { 0.5 * (1 + $0) })
        case .riemannTrapezoid:
            var steps = Array(repeating: 1 / n, count: count)
            steps[0] /= 2
            steps[count - 1] /= 2
            return (steps, linspace(0, 1))
        case .riemannLeft: return (Array(repeating: 1 / n, count: count), linspace(0, 1 - 1 / n))
        case .riemannRight: return (Array(repeating: 1 / n, count: count), linspace(1 / n, 1))
        case .riemannMiddle: return (Array(repeating: 1 / n, count: count), linspace(1 / (2 * n), 1 - 1 / (2 * n)))
        }
    }

    /// Gauss-Legendre nodes in (-1, 1), ascending, and their weights (numpy's `leggauss`):
    /// Newton's iteration on the Legendre polynomial from Tricomi's first guess.
    static func gaussLegendre(_ count: Int) -> (nodes: [Double], weights: [Double]) {
        var nodes = [Double](repeating: 0, count: count), weights = [Double](repeating: 0, count: count)
        let n = Double(count)
        for i in 0..<(count + 1) / 2 {
            var x = cos(Double.pi * (Double(i) + 0.75) / (n + 0.5))
            var derivative = 0.0
            for _ in 0..<100 {
                // P_n(x) and P_{n-1}(x) by the three-term recurrence.
                var (previous, value) = (1.0, x)
                if count >= 2 {
                    for k in 2...count {
                        (previous, value) = (value, ((2 * Double(k) - 1) * x * value - (Double(k) - 1) * previous) / Double(k))
                    }
                }
                derivative = n * (x * value - previous) / (x * x - 1)
                let step = value / derivative
                x -= step
                if Swift.abs(step) < 1e-16 { break }
            }
            let weight = 2 / ((1 - x * x) * derivative * derivative)
            nodes[count - 1 - i] = x
            nodes[i] = -x
            weights[i] = weight
            weights[count - 1 - i] = weight
        }
        if count % 2 == 1 { nodes[count / 2] = 0 }
        return (nodes, weights)
    }
}

/// Attributions with, per example, how far their sum is from the change in the target's score
/// between baseline and input (Captum's convergence delta: sum(attributions) - (F(x) - F(x'))).
public struct AttributionWithDelta: Sendable {
    public let attributions: Tensor
    public let delta: [Float]
    /// F(x) - F(baseline) per example: what the attributions should add up to.
    public let scoreChange: [Float]
}

/// The weighted sum over the path from `start` to `end` of `gradient` at its points:
/// Σ step_i · ∇F(start + α_i (end - start)), the points of several steps in one batch of at
/// most `internalBatchSize` rows. `gradient` gets a batch of `k` copies of the examples and k.
func integratedGradient(from start: Tensor, to end: Tensor, steps count: Int, method: IntegrationMethod, internalBatchSize: Int?,
                        gradient: (Tensor, Int) throws -> Tensor) throws -> Tensor {
    let (steps, alphas) = try method.stepsAndAlphas(count)
    let examples = start.shape[0]
    if let internalBatchSize, internalBatchSize < 1 {
        throw CortexError.invalidArgument(operation: "IntegratedGradients", reason: "internal batch size \(internalBatchSize) is not positive")
    }
    let perPass = max(1, (internalBatchSize ?? examples * count) / examples)
    let difference = try end - start
    let elements = start.count
    var total = try Tensor.zeros([elements])
    var first = 0
    while first < count {
        let chunk = first..<min(count, first + perPass)
        let points = try Tensor.cat(chunk.map { try start + difference * Float(alphas[$0]) }, axis: 0)
        let grads = try gradient(points, chunk.count).reshape([chunk.count, elements])
        let weights = try Tensor(chunk.map { Float(steps[$0]) }, shape: [chunk.count, 1])
        total = try total + (grads * weights).sum(axes: [0])
        first = chunk.upperBound
    }
    return try total.reshape(start.shape)
}
