import CortexCore
import CortexNN

/// Integrated gradients with respect to a layer's output, as Captum's
/// `LayerIntegratedGradients`: for token models, through the embedding layer, so each token
/// gets an attribution although the ids themselves cannot be differentiated. The path runs from
/// the layer's output at the baseline ids (id 0 by default; a padding or end-of-text id is a
/// common choice) to its output at the input ids, and the result has the layer output's shape
/// (N, T, D); ``perToken(_:)`` sums it over D.
///
/// ```swift
/// let lig = LayerIntegratedGradients(ExplainedFunction(gpt) { try $0.select(axis: 1, index: -1) }, layer: gpt.body.wte)
/// let result = try lig.attribute(ids, baselines: padIds, target: [nextToken], steps: 32)
/// let perToken = try LayerIntegratedGradients.perToken(result.attributions)   // (N, T)
/// ```
public struct LayerIntegratedGradients: @unchecked Sendable {
    public let function: ExplainedFunction
    public let layer: Module
    public let multipliesByInputs: Bool

    public init(_ function: ExplainedFunction, layer: Module, multipliesByInputs: Bool = true) {
        self.function = function
        self.layer = layer
        self.multipliesByInputs = multipliesByInputs
    }

    public func attribute(_ inputs: Tensor, baselines: Tensor? = nil, target: AttributionTarget = .none, steps: Int = 50,
                          method: IntegrationMethod = .gaussLegendre, internalBatchSize: Int? = nil,
                          attributeToLayerInput: Bool = false) throws -> AttributionWithDelta {
        guard inputs.rank >= 1, inputs.shape[0] > 0 else {
            throw CortexError.invalidArgument(operation: "LayerIntegratedGradients", reason: "the inputs \(inputs.shape) hold no example")
        }
        let baselineInputs = try baselines ?? Tensor.zeros(inputs.shape, dtype: inputs.dtype)
        guard baselineInputs.shape == inputs.shape else {
            throw CortexError.shapeMismatch(operation: "LayerIntegratedGradients", shapes: [inputs.shape, baselineInputs.shape],
                                            reason: "(inputs and baselines differ)")
        }
        let examples = inputs.shape[0]
        // One forward pass at each end gives the layer's output there and the targets' scores.
        func layerValueAndScores(_ x: Tensor) throws -> (Tensor, [Float]) {
            try withNoGrad { try withLayerOutput(of: layer, inputOf: attributeToLayerInput) { captured in
                let output = try function.forward(x)
                return (try captured().detach(),
                        try target.scores(output, examples: examples, operation: "LayerIntegratedGradients").toFloatArray())
            } }
        }
        let ((end, endScores), (start, startScores)) = (try layerValueAndScores(inputs), try layerValueAndScores(baselineInputs))
        let integral = try function.withFrozenParameters {
            try integratedGradient(from: start, to: end, steps: steps, method: method, internalBatchSize: internalBatchSize) { points, repeats in
                let repeatedInputs = try Tensor.cat(Array(repeating: inputs, count: repeats), axis: 0)
                return try withLayerOutput(of: layer, replacing: points, inputOf: attributeToLayerInput) { captured in
                    let scores = try target.scores(function.forward(repeatedInputs), examples: examples, repeats: repeats,
                                                   operation: "LayerIntegratedGradients")
                    let leaf = try captured()
                    try scores.sum().backward()
                    return try leaf.grad ?? Tensor.zeros(like: leaf)
                }
            }
        }
        let attributions = multipliesByInputs ? try integral * (end - start) : integral
        let change = zip(endScores, startScores).map { $0 - $1 }
        return try AttributionWithDelta(attributions: attributions, delta: convergenceDelta(attributions, change), scoreChange: change)
    }

    /// (N, T, D) attributions summed over the last axis: one figure per token.
    public static func perToken(_ attributions: Tensor) throws -> Tensor {
        try attributions.sum(axes: [attributions.rank - 1])
    }
}
