import Foundation
import Synchronization

/// Autograd state of a tensor that requires gradients: the op that produced it (nil for a
/// leaf) and, for leaves and tensors that retain it, the accumulated gradient.
final class AutogradMeta: @unchecked Sendable {
    let gradientFunction: GradientNode?
    /// False while the tensor is frozen (`requiresGrad = false` on a leaf that had it): the
    /// meta, and the gradient it holds, survive so unfreezing resumes where it was.
    let recording = Atomic<Bool>(true)
    private var storedGradient: Tensor?
    private var retains = false
    private let lock = NSLock()

    init(gradientFunction: GradientNode?) {
        self.gradientFunction = gradientFunction
    }

    var gradient: Tensor? {
        get { lock.lock(); defer { lock.unlock() }; return storedGradient }
        set { lock.lock(); storedGradient = newValue; lock.unlock() }
    }

    var retainsGradient: Bool {
        get { lock.lock(); defer { lock.unlock() }; return retains }
        set { lock.lock(); retains = newValue; lock.unlock() }
    }

    func accumulate(_ increment: Tensor) throws {
        lock.lock()
        defer { lock.unlock() }
        if let existing = storedGradient {
            storedGradient = try existing + increment
        } else {
            // The increment may be shared (add hands one gradient to both inputs) or a view;
            // a leaf's gradient gets storage of its own so in-place updates stay local.
            storedGradient = try increment.clone()
        }
    }
}

/// One recorded operation: the autograd metas of its inputs (nil where an input needs no
/// gradient) and the closure that maps the output's gradient to the inputs' gradients.
/// The closure (and the tensors it saved) is dropped once backward has run through it.
final class GradientNode: @unchecked Sendable {
    let name: String
    let inputs: [AutogradMeta?]
    let inputShapes: [[Int]]
    private var backwardFunction: ((Tensor) throws -> [Tensor?])?
    private let lock = NSLock()

    init(name: String, inputs: [AutogradMeta?], inputShapes: [[Int]], backward: @escaping (Tensor) throws -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.inputShapes = inputShapes
        self.backwardFunction = backward
    }

    /// Takes the backward closure, leaving the node freed.
    func takeBackward() -> ((Tensor) throws -> [Tensor?])? {
        lock.lock()
        defer { lock.unlock() }
        let function = backwardFunction
        backwardFunction = nil
        return function
    }
}

extension Tensor {
    /// Whether operations on this tensor are recorded for autograd. Setting it on a tensor that
    /// already has autograd state switches recording for every handle that shares the state,
    /// as PyTorch's `requires_grad_` does for one tensor object: freezing a parameter freezes it
    /// for the optimizer holding it too.
    public var requiresGrad: Bool {
        get { autograd?.recording.load(ordering: .relaxed) ?? false }
        set {
            if let autograd {
                autograd.recording.store(newValue, ordering: .relaxed)
            } else if newValue {
                autograd = AutogradMeta(gradientFunction: nil)
            }
        }
    }

    /// This tensor as a leaf that requires gradients (PyTorch's `requires_grad_()`).
    /// Only float32 tensors can require gradients.
    public func requiringGrad(_ enabled: Bool = true) throws -> Tensor {
        if enabled { try requireFloat32("requiringGrad") }
        var copy = Tensor(storage: storage, layout: layout)
        copy.requiresGrad = enabled
        return copy
    }

    /// The gradient accumulated by ``backward(_:)``: on leaves that require gradients and on
    /// tensors that called ``retainGrad()``.
    public var grad: Tensor? { autograd?.gradient }

    /// Replaces (or with `nil` clears) the accumulated gradient, as optimizers' `zero_grad`.
    public func setGrad(_ gradient: Tensor?) { autograd?.gradient = gradient }

    /// Makes a non-leaf tensor keep its gradient after backward.
    public func retainGrad() { autograd?.retainsGradient = true }

    /// True for tensors not produced by a recorded operation.
    public var isLeaf: Bool { autograd?.gradientFunction == nil }

    /// The name of the operation that produced this tensor, if recorded.
    public var gradientFunctionName: String? { autograd?.gradientFunction?.name }

    /// The same data cut off from the graph.
    public func detach() -> Tensor { Tensor(storage: storage, layout: layout) }

    /// Records `self` (just computed from `inputs`) in the graph when gradients are wanted.
    /// `backward` maps the gradient of `self` to one gradient per input (nil for none).
    func recorded(_ name: String, _ inputs: [Tensor], backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: \.requiresGrad) else { return self }
        return recordedNode(name, inputs, backward: backward)
    }

    /// As ``recorded(_:_:backward:)``, for ops whose backward can skip the gradients nobody
    /// wants: `backward` also gets which inputs require one (an expensive product for a
    /// network's input, say, is never computed).
    func recorded(_ name: String, _ inputs: [Tensor], backwardNeeding backward: @escaping (Tensor, [Bool]) throws -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: \.requiresGrad) else { return self }
        let needed = inputs.map(\.requiresGrad)
        return recordedNode(name, inputs) { try backward($0, needed) }
    }

    private func recordedNode(_ name: String, _ inputs: [Tensor], backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        let node = GradientNode(name: name, inputs: inputs.map { $0.requiresGrad ? $0.autograd : nil }, inputShapes: inputs.map(\.shape),
                                backward: backward)
        return Tensor(storage: storage, layout: layout, autograd: AutogradMeta(gradientFunction: node))
    }

    /// Reverse-mode differentiation from this tensor: gradients accumulate into `.grad` of the
    /// leaves that require them. A scalar needs no seed; otherwise pass the gradient of some
    /// scalar with respect to this tensor (same shape). The graph is freed as it is walked.
    public func backward(_ seed: Tensor? = nil) throws {
        guard let root = autograd else {
            throw CortexError.autograd("backward() on a tensor that does not require gradients")
        }
        let gradient: Tensor
        if let seed {
            guard seed.shape == shape else {
                throw CortexError.shapeMismatch(operation: "backward", shapes: [shape, seed.shape],
                                                reason: "(tensor and seed gradient) differ")
            }
            gradient = seed.detach()
        } else {
            guard count == 1 else {
                throw CortexError.autograd("backward() without a seed needs a scalar, got shape \(shape); pass a seed gradient")
            }
            gradient = try Tensor.ones(shape, device: device)
        }
        try withNoGrad { try Autograd.run(root: root, gradient: gradient) }
    }
}

enum Autograd {
    static func run(root: AutogradMeta, gradient: Tensor) throws {
        // Post-order walk gives inputs before the ops that consume them; reversed, each
        // tensor's gradient is complete before its producer's backward runs.
        var order: [AutogradMeta] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(AutogradMeta, Bool)] = [(root, false)]
        while let (meta, expanded) = stack.popLast() {
            if expanded { order.append(meta); continue }
            guard visited.insert(ObjectIdentifier(meta)).inserted else { continue }
            stack.append((meta, true))
            for input in meta.gradientFunction?.inputs ?? [] {
                if let input, !visited.contains(ObjectIdentifier(input)) { stack.append((input, false)) }
            }
        }
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): gradient]
        for meta in order.reversed() {
            guard let incoming = pending.removeValue(forKey: ObjectIdentifier(meta)) else { continue }
            guard let node = meta.gradientFunction else {
                try meta.accumulate(incoming)
                continue
            }
            if meta.retainsGradient { try meta.accumulate(incoming) }
            guard let backward = node.takeBackward() else {
                throw CortexError.autograd("backward through \(node.name) a second time: its graph was freed by the first backward")
            }
            let inputGradients = try backward(incoming)
            for (index, input) in node.inputs.enumerated() {
                guard let input, index < inputGradients.count, let inputGradient = inputGradients[index] else { continue }
                guard inputGradient.shape == node.inputShapes[index] else {
                    throw CortexError.shapeMismatch(operation: "\(node.name) backward", shapes: [inputGradient.shape, node.inputShapes[index]],
                                                    reason: "(gradient and input) differ")
                }
                let key = ObjectIdentifier(input)
                if let existing = pending[key] {
                    pending[key] = try existing + inputGradient
                } else {
                    pending[key] = inputGradient
                }
            }
        }
    }
}
