import CortexCore
import Foundation

/// A layer that maps one tensor to one tensor; ``Sequential`` chains them.
///
/// A layer implements ``forward(_:)``, as a PyTorch module does, and is called as a function:
/// calling it runs the forward hooks registered on it around `forward` (see
/// ``Module/registerForwardHook(_:)``).
public protocol Layer: AnyObject {
    func forward(_ input: Tensor) throws -> Tensor
}

extension Layer {
    /// `forward(input)` with this module's forward pre-hooks and hooks around it.
    @inlinable
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        guard let module = self as? Module, module.hasForwardHooks else { return try forward(input) }
        return try module.runningForwardHooks(input) { try forward($0) }
    }
}

/// The base of every model and layer, as PyTorch's `nn.Module`: parameters, buffers and child
/// modules are found by walking stored properties (declaration order), and named by their
/// dotted path in PyTorch's snake_case spelling, so `stateDict()` keys are the keys a PyTorch
/// `state_dict()` of the equivalent model has (`features.0.weight`, `bn.running_mean`).
///
/// ```swift
/// final class MLP: Module, Layer {
///     let hidden = Linear(784, 128)
///     let output = Linear(128, 10)
///     func forward(_ x: Tensor) throws -> Tensor { try output(hidden(x).relu()) }
/// }
/// let model = MLP()
/// print(model.parameterCount)                 // 101770
/// try model.loadStateDict(from: "mlp.safetensors")
/// ```
open class Module: @unchecked Sendable {
    /// Training mode (dropout active, batch norm updating its statistics) or evaluation mode.
    public private(set) var isTraining = true
    /// Masks of this module's pruned parameters by parameter name (see ``Pruning``): the
    /// parameter is then saved as `<name>_orig` and its mask as the buffer `<name>_mask`.
    final var pruningMasks: [String: Buffer<Tensor?>] = [:]
    /// Hooks run around `forward` (see ForwardHooks.swift).
    final var forwardHooks = ForwardHooks()
    /// Set by ``PerSampleGradients`` on the product layers whose ordinary parameter gradients
    /// a private step does not need: ``masked(_:_:)`` then hands their parameters out detached.
    final var detachesParameters = false

    public init() {}

    // MARK: Reflection

    /// Direct children with their names: module properties by name, arrays of modules as
    /// `name.index`. ``Sequential`` overrides this to name its layers `0`, `1`, ...
    open func namedChildren() -> [(String, Module)] {
        var children: [(String, Module)] = []
        for (label, value) in Module.storedProperties(of: self) {
            if let module = value as? Module {
                children.append((Module.checkpointName(label), module))
            } else if let modules = value as? [Module] {
                for (index, module) in modules.enumerated() { children.append(("\(Module.checkpointName(label)).\(index)", module)) }
            }
        }
        return children
    }

    /// This module's own parameter and buffer slots (not its children's) by their checkpoint
    /// names: a pruned parameter as `<name>_orig`, followed by its mask `<name>_mask`, as
    /// `torch.nn.utils.prune` names them.
    func ownSlots() -> [(String, TensorSlot)] {
        let slots = declaredSlots()
        guard !pruningMasks.isEmpty else { return slots }
        return slots.map { name, slot in pruningMasks[name] == nil ? (name, slot) : (name + "_orig", slot) }
            + slots.compactMap { name, _ in pruningMasks[name].map { (name + "_mask", $0 as TensorSlot) } }
    }

    /// This module's own slots under the names their properties declare.
    func declaredSlots() -> [(String, TensorSlot)] {
        Module.storedProperties(of: self).compactMap { label, value in
            guard let slot = value as? TensorSlot else { return nil }
            return (slot.key ?? Module.checkpointName(label), slot)
        }
    }

    static func storedProperties(of module: Module) -> [(String, Any)] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: module)
        while let current = mirror { mirrors.append(current); mirror = current.superclassMirror }
        // Superclass properties first, as a subclass's `__init__` registers after `super().__init__()`.
        return mirrors.reversed().flatMap { $0.children.compactMap { child in child.label.map { ($0, child.value) } } }
    }

    /// `runningMean` -> `running_mean`; property wrappers' leading underscore dropped.
    static func checkpointName(_ label: String) -> String {
        let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
        var result = ""
        for character in name {
            if character.isUppercase {
                if !result.isEmpty && result.last != "_" { result.append("_") }
                result.append(Character(character.lowercased()))
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// Every slot below this module with its dotted path, parameters and buffers in PyTorch's order.
    func namedSlots(prefix: String = "") -> [(String, TensorSlot)] {
        var result = ownSlots().map { (prefix + $0.0, $0.1) }
        for (name, child) in namedChildren() { result += child.namedSlots(prefix: prefix + name + ".") }
        return result
    }

    /// Trainable tensors with their dotted names (PyTorch's `named_parameters`).
    public func namedParameters() -> [(String, Tensor)] {
        namedSlots().compactMap { name, slot in slot.isBuffer ? nil : slot.tensor.map { (name, $0) } }
    }

    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    /// Buffers (running statistics) with their dotted names.
    public func namedBuffers() -> [(String, Tensor)] {
        namedSlots().compactMap { name, slot in slot.isBuffer ? slot.tensor.map { (name, $0) } : nil }
    }

    /// Every module below this one (itself first), with dotted names.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        [(prefix, self)] + namedChildren().flatMap { name, child in
            child.namedModules(prefix: prefix.isEmpty ? name : prefix + "." + name)
        }
    }

    // MARK: Modes

    /// Switches this module and all below it to training (`true`) or evaluation mode.
    public func train(_ training: Bool = true) {
        for (_, module) in namedModules() { module.isTraining = training }
    }

    /// Evaluation mode, as `model.eval()`.
    public func eval() { train(false) }

    /// Stops (or with `false` resumes) gradients for every parameter; frozen parameters keep
    /// their identity, so an optimizer holding them skips them while frozen.
    public func freeze(_ frozen: Bool = true) {
        for (_, slot) in namedSlots() where !slot.isBuffer {
            var tensor = slot.tensor
            tensor?.requiresGrad = !frozen
        }
    }

    public func unfreeze() { freeze(false) }

    /// Number of parameter elements (trainable ones only with `trainableOnly`).
    public func parameterCount(trainableOnly: Bool = false) -> Int {
        parameters().filter { !trainableOnly || $0.requiresGrad }.reduce(0) { $0 + $1.count }
    }

    /// A printable outline: every module with its type and parameter count, and the total.
    public var summary: String {
        var lines: [String] = []
        for (name, module) in namedModules() {
            let depth = name.isEmpty ? 0 : name.split(separator: ".").count
            let own = module.ownSlots().filter { !$0.1.isBuffer }.compactMap { $0.1.tensor?.count }.reduce(0, +)
            let shapes = module.ownSlots().compactMap { key, slot in slot.tensor.map { "\(key) \($0.shape)" } }
            let label = name.isEmpty ? String(describing: type(of: module)) : "\(name): \(type(of: module))"
            lines.append(String(repeating: "  ", count: depth) + label + (shapes.isEmpty ? "" : "  " + shapes.joined(separator: ", "))
                         + (own > 0 ? "  (\(own) parameters)" : ""))
        }
        lines.append("Total parameters: \(parameterCount()) (trainable: \(parameterCount(trainableOnly: true)))")
        return lines.joined(separator: "\n")
    }

    // MARK: State dict

    /// Parameters and buffers by dotted name (PyTorch's `state_dict()`), sharing storage.
    public func stateDict() -> [String: Tensor] {
        Dictionary(namedSlots().compactMap { name, slot in slot.tensor.map { (name, $0.detach()) } }, uniquingKeysWith: { a, _ in a })
    }

    /// Copies `state` into this module's parameters and buffers (shapes must match; dtypes are
    /// converted). With `strict`, missing and unexpected keys are errors, all named at once.
    /// Copies `state` into the parameters and buffers (checking names and shapes first, every
    /// problem named in one error). With `assign` the module takes the given tensors themselves
    /// (converted where their dtype differs) instead of copying into its own, as PyTorch's
    /// `assign=True`: a memory-mapped checkpoint is then never copied.
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true, assign: Bool) throws {
        try loadStateDict(state, strict: strict, assigning: assign)
    }

    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws {
        try loadStateDict(state, strict: strict, assigning: false)
    }

    private func loadStateDict(_ state: [String: Tensor], strict: Bool, assigning: Bool) throws {
        preparePruning(for: state)
        let slots = namedSlots()
        let expected = Set(slots.compactMap { $0.1.tensor == nil ? nil : $0.0 })
        var problems: [String] = []
        if strict {
            let missing = expected.subtracting(state.keys).sorted()
            let unexpected = Set(state.keys).subtracting(expected).sorted()
            if !missing.isEmpty { problems.append("missing keys: \(missing.joined(separator: ", "))") }
            if !unexpected.isEmpty { problems.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
        }
        for (name, slot) in slots {
            guard let target = slot.tensor, let source = state[name] else { continue }
            if source.shape != target.shape {
                problems.append("\(name) has shape \(source.shape) in the state dict but \(target.shape) in the model")
            }
        }
        guard problems.isEmpty else {
            throw CortexError.invalidArgument(operation: "loadStateDict", reason: problems.joined(separator: "; "))
        }
        try withNoGrad {
            for (name, slot) in slots {
                guard let target = slot.tensor, let source = state[name] else { continue }
                if assigning {
                    slot.tensor = try source.detach().to(target.dtype).to(target.device)
                } else {
                    try target.copy(from: source.to(target.device))
                }
            }
        }
    }

    /// Saves `stateDict()` as safetensors (atomically) with PyTorch's key names.
    public func save(to path: String, metadata: [String: String] = ["format": "pt"]) throws {
        try Safetensors.save(stateDict(), metadata: metadata, to: path)
    }

    /// Loads a safetensors state dict, such as one saved from PyTorch with
    /// `safetensors.torch.save_file(model.state_dict(), path)`.
    public func loadStateDict(from path: String, strict: Bool = true) throws {
        let file = try Safetensors.load(path)
        do {
            try loadStateDict(file.tensors, strict: strict)
        } catch let CortexError.invalidArgument(operation, reason) {
            throw CortexError.invalidFile(path: path, reason: "\(operation): \(reason)")
        }
    }
}
