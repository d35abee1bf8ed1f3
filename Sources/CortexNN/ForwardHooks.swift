import CortexCore
import Synchronization

/// What a forward hook sees: the module, its input and its output.
public typealias ForwardHook = (_ module: Module, _ input: Tensor, _ output: Tensor) throws -> Tensor?
/// What a forward pre-hook sees: the module and its input.
public typealias ForwardPreHook = (_ module: Module, _ input: Tensor) throws -> Tensor?

/// The hooks registered on one module, in registration order.
struct ForwardHooks {
    var pre: [(id: Int, hook: ForwardPreHook)] = []
    var post: [(id: Int, hook: ForwardHook)] = []
    var isEmpty: Bool { pre.isEmpty && post.isEmpty }
    private static let counter = Atomic<Int>(0)
    static func nextIdentifier() -> Int { counter.wrappingAdd(1, ordering: .relaxed).newValue }
}

/// Removes the hook it was returned for (PyTorch's `RemovableHandle`).
public final class ForwardHookHandle: @unchecked Sendable {
    private weak var module: Module?
    private let id: Int

    init(module: Module, id: Int) {
        self.module = module
        self.id = id
    }

    public func remove() {
        module?.forwardHooks.pre.removeAll { $0.id == id }
        module?.forwardHooks.post.removeAll { $0.id == id }
    }
}

extension Module {
    /// Registers `hook` to run after every forward pass of this module, as PyTorch's
    /// `register_forward_hook`: it sees the input and the output, and a tensor it returns
    /// replaces the output. Attribution methods use it to capture a layer's activations
    /// (GradCAM) or to substitute them (layer integrated gradients).
    ///
    /// ```swift
    /// var activations: Tensor?
    /// let handle = model.layers[3].registerForwardHook { _, _, output in
    ///     output.retainGrad(); activations = output; return nil
    /// }
    /// let loss = try model(images).sum(); try loss.backward()
    /// print(activations!.grad!.shape)
    /// handle.remove()
    /// ```
    ///
    /// Hooks run when the module is called as a ``Layer`` (`module(input)`), by a
    /// ``Sequential`` or by the model that holds it.
    @discardableResult
    public func registerForwardHook(_ hook: @escaping ForwardHook) -> ForwardHookHandle {
        let id = ForwardHooks.nextIdentifier()
        forwardHooks.post.append((id, hook))
        return ForwardHookHandle(module: self, id: id)
    }

    /// Registers `hook` to run before every forward pass (PyTorch's `register_forward_pre_hook`):
    /// a tensor it returns replaces the input.
    @discardableResult
    public func registerForwardPreHook(_ hook: @escaping ForwardPreHook) -> ForwardHookHandle {
        let id = ForwardHooks.nextIdentifier()
        forwardHooks.pre.append((id, hook))
        return ForwardHookHandle(module: self, id: id)
    }

    /// Whether any forward hook is registered here (the plain path skips the hook machinery).
    public var hasForwardHooks: Bool { !forwardHooks.isEmpty }

    /// `forward(input)` with the pre-hooks applied to its input and the hooks to its output.
    public func runningForwardHooks(_ input: Tensor, _ forward: (Tensor) throws -> Tensor) throws -> Tensor {
        let hooks = forwardHooks
        var input = input
        for (_, hook) in hooks.pre { if let replaced = try hook(self, input) { input = replaced } }
        var output = try forward(input)
        for (_, hook) in hooks.post { if let replaced = try hook(self, input, output) { output = replaced } }
        return output
    }

    /// The module at dotted path `name` (as `namedModules` names it; "" is this module), or a
    /// typed error listing the names there are.
    public func submodule(named name: String) throws -> Module {
        let modules = namedModules()
        if let found = modules.first(where: { $0.0 == name }) { return found.1 }
        throw CortexError.invalidArgument(
            operation: "submodule", reason: "no layer named \"\(name)\"; the layers are \(modules.map(\.0).filter { !$0.isEmpty }.joined(separator: ", "))")
    }
}
