import CortexCore
import CortexNN

/// The gradient of the target's score with respect to the input (Simonyan et al. 2013), as
/// Captum's `Saliency`: its absolute value unless `abs` is false.
///
/// ```swift
/// model.eval()
/// let maps = try Saliency(model).attribute(images, target: [7, 2, 1])   // images' shape
/// ```
public struct Saliency: Sendable {
    public let function: ExplainedFunction

    public init(_ function: ExplainedFunction) { self.function = function }
    public init(_ model: Module & Layer) { function = ExplainedFunction(model) }

    public func attribute(_ inputs: Tensor, target: AttributionTarget = .none, abs: Bool = true) throws -> Tensor {
        try checkBatch(inputs, operation: "Saliency")
        let gradient = try function.gradient(at: inputs, target: target, operation: "Saliency")
        return abs ? try gradient.abs() : gradient
    }
}

/// The input times the gradient of the target's score, as Captum's `InputXGradient`.
public struct InputXGradient: Sendable {
    public let function: ExplainedFunction

    public init(_ function: ExplainedFunction) { self.function = function }
    public init(_ model: Module & Layer) { function = ExplainedFunction(model) }

    public func attribute(_ inputs: Tensor, target: AttributionTarget = .none) throws -> Tensor {
        try checkBatch(inputs, operation: "InputXGradient")
        return try inputs * function.gradient(at: inputs, target: target, operation: "InputXGradient")
    }
}
