import CortexCore
import CortexNN

/// Integrated gradients (Sundararajan et al. 2017), as Captum's `IntegratedGradients`: the
/// input's difference from a baseline (zeros by default) times the gradient averaged along the
/// straight path between them, with the convergence delta that says how well the integral was
/// approximated.
///
/// ```swift
/// let ig = IntegratedGradients(model)
/// let result = try ig.attribute(images, target: labels, steps: 64, method: .gaussLegendre)
/// print(result.delta)            // sum(attributions) - (F(x) - F(0)) per image
/// ```
public struct IntegratedGradients: Sendable {
    public let function: ExplainedFunction
    /// Multiplies the path integral by (input - baseline), as Captum's `multiply_by_inputs`.
    public let multipliesByInputs: Bool

    public init(_ function: ExplainedFunction, multipliesByInputs: Bool = true) {
        self.function = function
        self.multipliesByInputs = multipliesByInputs
    }

    public init(_ model: Module & Layer, multipliesByInputs: Bool = true) {
        self.init(ExplainedFunction(model), multipliesByInputs: multipliesByInputs)
    }

    public func attribute(_ inputs: Tensor, baselines: Tensor? = nil, target: AttributionTarget = .none, steps: Int = 50,
                          method: IntegrationMethod = .gaussLegendre, internalBatchSize: Int? = nil) throws -> AttributionWithDelta {
        try checkBatch(inputs, operation: "IntegratedGradients")
        let baseline = try resolvedBaseline(baselines, for: inputs, operation: "IntegratedGradients")
        let integral = try integratedGradient(from: baseline, to: inputs, steps: steps, method: method, internalBatchSize: internalBatchSize) {
            points, repeats in try function.gradient(at: points, target: target, repeats: repeats, operation: "IntegratedGradients")
        }
        let attributions = multipliesByInputs ? try integral * (inputs - baseline) : integral
        let change = try zip(function.scores(inputs, target: target, operation: "IntegratedGradients"),
                             function.scores(baseline, target: target, operation: "IntegratedGradients")).map { $0 - $1 }
        return try AttributionWithDelta(attributions: attributions, delta: convergenceDelta(attributions, change), scoreChange: change)
    }
}

/// sum(attributions of example i) - change[i].
func convergenceDelta(_ attributions: Tensor, _ change: [Float]) throws -> [Float] {
    let sums = try attributions.reshape([attributions.shape[0], -1]).sum(axes: [1]).toFloatArray()
    return zip(sums, change).map { $0 - $1 }
}
