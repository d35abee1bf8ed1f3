import Foundation
import Synchronization

/// Autograd state of a tensor that requires gradients: the op that produced it (nil for a
/// leaf) and, for leaves and tensors that retain it, the accumulated gradient.
final class AutogradMeta: @unchecked Sendable {
    let gradientFunction: GradientNode?
    /// Creation order: an op's output is always made after its inputs, so walking the graph in
    /// decreasing sequence runs each op's backward after every op that consumed its output
    /// (PyTorch's engine orders its ready queue the same way).
    let sequence: UInt64
    private static let counter = Atomic<UInt64>(0)
    private var hooks: [(id: Int, hook: () throws -> Void)] = []
    /// False while the tensor is frozen (`requiresGrad = false` on a leaf that had it): the
    /// meta, and the gradient it holds, survive so unfreezing resumes where it was.
    let recording = Atomic<Bool>(true)
    private var storedGradient: Tensor?
    private var retains = false
    private let lock = NSLock()

    init(gradientFunction: GradientNode?) {
        self.gradientFunction = gradientFunction
        self.sequence = AutogradMeta.counter.wrappingAdd(1, ordering: .relaxed).newValue
    }

    func addHook(id: Int, _ hook: @escaping () throws -> Void) {
        lock.lock(); hooks.append((id, hook)); lock.unlock()
    }

    func removeHook(id: Int) {
        lock.lock(); hooks.removeAll { $0.id == id }; lock.unlock()
    }

    /// Runs the post-accumulate hooks (the gradient is final for this pass).
    func runHooks() throws {
        lock.lock()
        let current = hooks.map(\.hook)
        lock.unlock()
        for hook in current { try hook() }
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

    /// Registers `hook` to run each time backward has finished accumulating this leaf's gradient
    /// (PyTorch's `register_post_accumulate_grad_hook`): the gradient in `.grad` is final for
    /// this backward pass when it runs, while backward goes on with the rest of the graph.
    /// Distributed data parallelism starts its gradient all-reduce from such hooks.
    ///
    /// ```swift
    /// let handle = try weight.registerPostAccumulateGradHook { tensor in print(tensor.grad!.shape) }
    /// try loss.backward()
    /// handle.remove()
    /// ```
    @discardableResult
    public func registerPostAccumulateGradHook(_ hook: @escaping (Tensor) throws -> Void) throws -> GradientHookHandle {
        guard let autograd, requiresGrad, isLeaf else {
            throw CortexError.autograd("registerPostAccumulateGradHook needs a leaf tensor that requires gradients")
        }
        let id = GradientHookHandle.nextIdentifier()
        let (storage, layout) = (storage, layout)
        // The hook holds the meta weakly: a tensor's hooks must not keep it alive.
        autograd.addHook(id: id) { [weak autograd] in
            guard let autograd else { return }
            try hook(Tensor(storage: storage, layout: layout, autograd: autograd))
        }
        return GradientHookHandle(meta: autograd, id: id)
    }

    /// This tensor, unchanged, with `observer` called on its gradient during backward (the
    /// whole gradient, summed over every consumer, once per pass), as a PyTorch tensor hook
    /// that returns nothing: per-sample gradients read a layer's output gradient this way.
    /// Where no gradient is recorded (`withNoGrad`, or nothing here requires one) it is `self`
    /// and the observer never runs.
    ///
    /// ```swift
    /// let hidden = try layer(x).observingGradient { gradient in print(gradient.shape) }
    /// try hidden.sum().backward()
    /// ```
    public func observingGradient(_ observer: @escaping (Tensor) throws -> Void) -> Tensor {
        let view = Tensor(storage: storage, layout: layout)
        return view.recorded("observingGradient", [self]) { gradient in
            try observer(gradient)
            return [gradient]
        }
    }

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

/// Removes a hook registered with ``Tensor/registerPostAccumulateGradHook(_:)``.
public final class GradientHookHandle: @unchecked Sendable {
    private weak var meta: AutogradMeta?
    private let id: Int
    private static let counter = Atomic<Int>(0)

    init(meta: AutogradMeta, id: Int) {
        self.meta = meta
        self.id = id
    }

    static func nextIdentifier() -> Int { counter.wrappingAdd(1, ordering: .relaxed).newValue }

    public func remove() { meta?.removeHook(id: id) }
}

/// Work queued for the end of the backward pass that is running (PyTorch's
/// `Variable._execution_engine.queue_callback`): gradient hooks use it to finish what they
/// started (data parallelism waits for its last all-reduce) before `backward()` returns.
public enum BackwardPass {
    final class Context {
        var callbacks: [() throws -> Void] = []
    }
    nonisolated(unsafe) private static var key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static var current: Context? {
        get { pthread_getspecific(key).map { Unmanaged<Context>.fromOpaque($0).takeUnretainedValue() } }
    }

    static func withContext<T>(_ body: () throws -> T) throws -> T {
        let context = Context()
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, Unmanaged.passUnretained(context).toOpaque())
        defer { pthread_setspecific(key, previous) }
        let result = try body()
        // Callbacks may queue more callbacks; run until none is left.
        while !context.callbacks.isEmpty {
            let callbacks = context.callbacks
            context.callbacks = []
            for callback in callbacks { try callback() }
        }
        return result
    }

    /// Identifies the backward pass running on this thread (nil outside one): hooks use it to
    /// tell one pass from the next.
    public static var currentIdentifier: ObjectIdentifier? { current.map(ObjectIdentifier.init) }

    /// Queues `callback` to run once the current backward pass has walked the whole graph,
    /// before `backward()` returns. Throws outside a backward pass (outside a hook).
    public static func queueCallback(_ callback: @escaping () throws -> Void) throws {
        guard let context = current else {
            throw CortexError.autograd("BackwardPass.queueCallback called outside a backward pass")
        }
        context.callbacks.append(callback)
    }
}

enum Autograd {
    static func run(root: AutogradMeta, gradient: Tensor) throws {
        try BackwardPass.withContext { try walk(root: root, gradient: gradient) }
    }

    private static func walk(root: AutogradMeta, gradient: Tensor) throws {
        // Every meta reachable from the root, and for each how many graph edges point at it.
        var metas: [AutogradMeta] = []
        var consumers: [ObjectIdentifier: Int] = [:]
        var stack: [AutogradMeta] = [root]
        consumers[ObjectIdentifier(root)] = 0
        while let meta = stack.popLast() {
            metas.append(meta)
            for input in meta.gradientFunction?.inputs ?? [] {
                guard let input else { continue }
                let key = ObjectIdentifier(input)
                if let count = consumers[key] {
                    consumers[key] = count + 1
                } else {
                    consumers[key] = 1
                    stack.append(input)
                }
            }
        }
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): gradient]
        // A leaf's gradient is final once every op consuming it has run: accumulate it then,
        // and run its hooks, while backward continues with the rest of the graph.
        func finishLeaf(_ meta: AutogradMeta) throws {
            guard let incoming = pending.removeValue(forKey: ObjectIdentifier(meta)) else { return }
            try meta.accumulate(incoming)
            try meta.runHooks()
        }
        if root.gradientFunction == nil { try finishLeaf(root); return }
        // Decreasing creation order is a topological order from outputs to inputs.
        let operations = metas.filter { $0.gradientFunction != nil }.sorted { $0.sequence > $1.sequence }
        for meta in operations {
            let node = meta.gradientFunction!
            let incoming = pending.removeValue(forKey: ObjectIdentifier(meta))
            var inputGradients: [Tensor?] = []
            if let incoming {
                if meta.retainsGradient { try meta.accumulate(incoming) }
                guard let backward = node.takeBackward() else {
                    throw CortexError.autograd("backward through \(node.name) a second time: its graph was freed by the first backward")
                }
                inputGradients = try backward(incoming)
            }
            for (index, input) in node.inputs.enumerated() {
                guard let input else { continue }
                let key = ObjectIdentifier(input)
                if index < inputGradients.count, let inputGradient = inputGradients[index] {
                    guard inputGradient.shape == node.inputShapes[index] else {
                        throw CortexError.shapeMismatch(operation: "\(node.name) backward", shapes: [inputGradient.shape, node.inputShapes[index]],
                                                        reason: "(gradient and input) differ")
                    }
                    if let existing = pending[key] {
                        pending[key] = try existing + inputGradient
                    } else {
                        pending[key] = inputGradient
                    }
                }
                let remaining = consumers[key]! - 1
                consumers[key] = remaining
                if remaining == 0 && input.gradientFunction == nil { try finishLeaf(input) }
            }
        }
    }
}
