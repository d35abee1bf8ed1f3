import CortexCore
import CortexNN

/// Which output each example is explained for, as Captum's `target`: nothing (the model gives
/// one score per example), one class for every example, or a class per example.
///
/// ```swift
/// let maps = try Saliency(model).attribute(images, target: 3)          // class 3 for all
/// let own = try Saliency(model).attribute(images, target: [7, 2, 1])  // one per image
/// ```
public enum AttributionTarget: Sendable, Equatable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral {
    case none
    case all(Int)
    case each([Int])

    public init(integerLiteral value: Int) { self = .all(value) }
    public init(arrayLiteral elements: Int...) { self = .each(elements) }

    /// The scores (N,) that `output` (N,), (N, 1) or (N, C) gives the targets of `examples`
    /// examples; with `repeats`, the batch holds that many copies of the examples, one after
    /// another (integrated gradients' steps), and the per-example targets repeat with them.
    func scores(_ output: Tensor, examples: Int, repeats: Int = 1, operation: String) throws -> Tensor {
        let rows = examples * repeats
        guard output.rank >= 1, output.shape[0] == rows else {
            throw CortexError.shapeMismatch(operation: operation, shapes: [output.shape],
                                            reason: "(the model's output should have one row per input, \(rows))")
        }
        switch self {
        case .none:
            guard output.count == rows else {
                throw CortexError.invalidArgument(operation: operation,
                                                  reason: "the model's output \(output.shape) has several scores per input: name a target")
            }
            return try output.reshape([rows])
        case .all(let index):
            return try gather(output, Array(repeating: index, count: rows), operation: operation)
        case .each(let indices):
            guard indices.count == examples else {
                throw CortexError.invalidArgument(operation: operation, reason: "\(indices.count) targets for \(examples) inputs")
            }
            return try gather(output, Array((0..<repeats).map { _ in indices }.joined()), operation: operation)
        }
    }

    private func gather(_ output: Tensor, _ indices: [Int], operation: String) throws -> Tensor {
        let flat = try output.reshape([output.shape[0], -1])
        let classes = flat.shape[1]
        if let outside = indices.first(where: { $0 < 0 || $0 >= classes }) {
            throw CortexError.indexOutOfRange(operation: operation + " target", index: outside, bound: classes)
        }
        return try flat.gather(axis: 1, index: Tensor(integers: indices, shape: [indices.count, 1])).reshape([indices.count])
    }
}

/// The function being explained: a model called on a batch, giving (N,) or (N, C) scores.
/// Built from a `Module & Layer`, its parameters stop recording gradients while an attribution
/// runs (their `.grad` is left as it was), as Captum needs only the inputs' gradients.
public struct ExplainedFunction: @unchecked Sendable {
    let forward: (Tensor) throws -> Tensor
    let module: Module?

    public init(_ forward: @escaping (Tensor) throws -> Tensor) {
        self.forward = forward
        module = nil
    }

    public init(_ model: Module & Layer) {
        forward = { try model($0) }
        module = model
    }

    /// Builds the function from `model` and a map of its output (the last position's logits
    /// of a language model, say).
    public init(_ model: Module, _ forward: @escaping (Tensor) throws -> Tensor) {
        self.forward = forward
        module = model
    }

    /// `body` with the model's parameters frozen, restored afterwards.
    func withFrozenParameters<Result>(_ body: () throws -> Result) throws -> Result {
        guard let module else { return try body() }
        var parameters = module.parameters()
        let recording = parameters.map(\.requiresGrad)
        for index in parameters.indices { parameters[index].requiresGrad = false }
        defer { for index in parameters.indices { parameters[index].requiresGrad = recording[index] } }
        return try body()
    }

    /// The targets' scores at `inputs` (N,), without gradients; `repeats` as
    /// ``AttributionTarget/scores(_:examples:repeats:operation:)``.
    func scores(_ inputs: Tensor, target: AttributionTarget, repeats: Int = 1, operation: String) throws -> [Float] {
        try withNoGrad {
            try target.scores(forward(inputs), examples: inputs.shape[0] / repeats, repeats: repeats, operation: operation).toFloatArray()
        }
    }

    /// The gradient of the targets' scores with respect to `inputs` (same shape); `repeats`
    /// as ``AttributionTarget/scores(_:examples:repeats:operation:)``.
    func gradient(at inputs: Tensor, target: AttributionTarget, repeats: Int = 1, operation: String) throws -> Tensor {
        try withFrozenParameters {
            let leaf = try inputs.detach().contiguous().requiringGrad()
            let scores = try target.scores(forward(leaf), examples: inputs.shape[0] / repeats, repeats: repeats, operation: operation)
            try scores.sum().backward()
            return try leaf.grad ?? Tensor.zeros(like: inputs)
        }
    }
}

/// Checks that `inputs` is a float batch with at least one example.
func checkBatch(_ inputs: Tensor, operation: String) throws {
    guard inputs.rank >= 1, inputs.shape[0] > 0 else {
        throw CortexError.invalidArgument(operation: operation, reason: "the inputs \(inputs.shape) hold no example (a batch axis first)")
    }
    guard inputs.dtype == .float32 else {
        throw CortexError.dtypeMismatch(operation: operation, expected: "float32 inputs", got: "\(inputs.dtype)")
    }
}

/// `baseline` checked against `inputs`, or zeros; a baseline of one example is repeated.
func resolvedBaseline(_ baseline: Tensor?, for inputs: Tensor, operation: String) throws -> Tensor {
    guard let baseline else { return try Tensor.zeros(like: inputs) }
    if baseline.shape == inputs.shape { return try baseline.to(.float32) }
    if baseline.shape == Array(inputs.shape.dropFirst()) || (baseline.shape.first == 1 && Array(baseline.shape.dropFirst()) == Array(inputs.shape.dropFirst())) {
        return try baseline.to(.float32).reshape([1] + Array(inputs.shape.dropFirst())).expand(inputs.shape).contiguous()
    }
    throw CortexError.shapeMismatch(operation: operation, shapes: [inputs.shape, baseline.shape],
                                    reason: "(the baseline must have the inputs' shape, or one example's)")
}
