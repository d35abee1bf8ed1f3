import CortexCore
import Foundation

/// Settings every optimizer's parameter groups carry.
public protocol OptimizerOptions: Codable, Sendable {
    var learningRate: Float { get set }
}

/// A set of parameters updated with the same settings (PyTorch's param group).
public struct ParameterGroup<Options: OptimizerOptions> {
    public var parameters: [Tensor]
    public var options: Options
    public init(_ parameters: [Tensor], _ options: Options) {
        self.parameters = parameters
        self.options = options
    }
}

/// What the trainer and schedulers need of any optimizer.
public protocol Optimizer: AnyObject {
    /// Applies one update to every parameter that has a gradient.
    func step() throws
    /// Clears the gradients of every parameter (PyTorch's `zero_grad(set_to_none=True)`).
    func zeroGrad()
    /// The learning rate of each parameter group (schedulers set these).
    var learningRates: [Float] { get set }
    /// Per-parameter state and group settings, for checkpoints.
    func stateDict() throws -> (tensors: [String: Tensor], metadata: [String: String])
    func loadStateDict(tensors: [String: Tensor], metadata: [String: String]) throws
}

/// Shared machinery: parameter groups, per-parameter state tensors, step counts and
/// checkpointing. Subclasses implement `update`, the per-parameter rule, with tensor ops
/// under no-grad, writing the parameter in place so every holder of it sees the update.
open class GroupedOptimizer<Options: OptimizerOptions>: Optimizer, @unchecked Sendable {
    public var groups: [ParameterGroup<Options>]
    /// State tensors per parameter, in group-then-parameter order (PyTorch's state indices).
    var state: [[String: Tensor]]
    var steps: [Int]

    public init(groups: [ParameterGroup<Options>]) {
        self.groups = groups
        let count = groups.reduce(0) { $0 + $1.parameters.count }
        self.state = Array(repeating: [:], count: count)
        self.steps = Array(repeating: 0, count: count)
    }

    /// Computes the new value of `parameter` from its `gradient`; `step` is 1 on the first update.
    open func update(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor], step: Int) throws -> Tensor {
        fatalError("\(type(of: self)) must override update(_:gradient:options:state:step:)")
    }

    /// The same update as ``update(_:gradient:options:state:step:)`` done in place by a fused
    /// kernel; returns false (the default) where there is none, and `update` runs instead.
    open func fusedUpdate(_ parameter: Tensor, gradient: Tensor, options: Options, state: inout [String: Tensor],
                          step: Int) throws -> Bool {
        false
    }

    public func step() throws {
        try withNoGrad {
            var index = 0
            for group in groups {
                for parameter in group.parameters {
                    defer { index += 1 }
                    guard parameter.requiresGrad, let gradient = parameter.grad else { continue }
                    steps[index] += 1
                    if try fusedUpdate(parameter, gradient: gradient, options: group.options, state: &state[index], step: steps[index]) {
                        continue
                    }
                    let updated = try update(parameter, gradient: gradient, options: group.options, state: &state[index], step: steps[index])
                    try parameter.copy(from: updated)
                }
            }
        }
    }

    public func zeroGrad() {
        for group in groups { for parameter in group.parameters { parameter.setGrad(nil) } }
    }

    public var learningRates: [Float] {
        get { groups.map(\.options.learningRate) }
        set {
            precondition(newValue.count == groups.count, "one learning rate per parameter group")
            for index in groups.indices { groups[index].options.learningRate = newValue[index] }
        }
    }

    public func stateDict() throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        var tensors: [String: Tensor] = [:]
        for (index, entries) in state.enumerated() {
            for (name, tensor) in entries { tensors["state.\(index).\(name)"] = tensor }
        }
        let options = try JSONEncoder().encode(groups.map(\.options))
        return (tensors, ["optimizer": String(describing: type(of: self)),
                          "param_groups": String(decoding: options, as: UTF8.self),
                          "steps": steps.map(String.init).joined(separator: ",")])
    }

    public func loadStateDict(tensors: [String: Tensor], metadata: [String: String]) throws {
        let name = String(describing: type(of: self))
        guard metadata["optimizer"] == name else {
            throw CortexError.invalidArgument(operation: "loadStateDict", reason: "optimizer state is for \(metadata["optimizer"] ?? "an unknown optimizer"), not \(name)")
        }
        guard let json = metadata["param_groups"], let options = try? JSONDecoder().decode([Options].self, from: Data(json.utf8)),
              options.count == groups.count else {
            throw CortexError.invalidArgument(operation: "loadStateDict", reason: "param_groups do not describe \(groups.count) groups")
        }
        let savedSteps = (metadata["steps"] ?? "").split(separator: ",").compactMap { Int($0) }
        guard savedSteps.count == steps.count else {
            throw CortexError.invalidArgument(operation: "loadStateDict", reason: "state has \(savedSteps.count) parameters, the optimizer \(steps.count)")
        }
        var restored = Array(repeating: [String: Tensor](), count: state.count)
        for (key, tensor) in tensors {
            let parts = key.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, parts[0] == "state", let index = Int(parts[1]), index < restored.count else {
                throw CortexError.invalidArgument(operation: "loadStateDict", reason: "unexpected optimizer state key \(key)")
            }
            restored[index][String(parts[2])] = try tensor.clone()
        }
        for index in groups.indices { groups[index].options = options[index] }
        state = restored
        steps = savedSteps
    }
}

/// Gradient clipping, as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.
public enum GradientClipping {
    /// Scales all gradients so their joint `normType`-norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clipNorm(_ parameters: [Tensor], maxNorm: Float, normType: Float = 2) throws -> Float {
        let total = try norm(parameters, normType: normType)
        let scale = maxNorm / (total + 1e-6)
        if scale < 1 {
            try withNoGrad { for gradient in parameters.compactMap(\.grad) { try gradient.multiplyInPlace(scale) } }
        }
        return total
    }

    /// The joint `normType`-norm of all gradients (0 when none has one), as `clip_grad_norm_`
    /// measures it.
    public static func norm(_ parameters: [Tensor], normType: Float = 2) throws -> Float {
        let gradients = parameters.compactMap(\.grad)
        guard !gradients.isEmpty else { return 0 }
        return try withNoGrad {
            if normType == .infinity {
                return try gradients.map { try $0.abs().max().item() }.max() ?? 0
            }
            let sum = try gradients.reduce(Float(0)) { $0 + (try $1.abs().pow(normType).sum().item()) }
            return Foundation.pow(sum, 1 / normType)
        }
    }

    /// Clamps every gradient element to [-value, value].
    public static func clipValue(_ parameters: [Tensor], value: Float) throws {
        try withNoGrad {
            for gradient in parameters.compactMap(\.grad) { try gradient.copy(from: gradient.clamp(min: -value, max: value)) }
        }
    }
}
