import CortexCore

/// A layer whose forward pass multiplies its parameters by their pruning masks (through
/// ``Module/masked(_:_:)``), so ``Pruning`` may prune them. Linear, Conv1d, Conv2d and Embedding
/// are prunable; a custom layer becomes prunable by reading its parameters through `masked`.
public protocol Prunable: Module {}

extension Linear: Prunable {}
extension Conv1d: Prunable {}
extension Conv2d: Prunable {}
extension Embedding: Prunable {}

extension Module {
    /// `value` times the mask of the parameter `name` where it is pruned, else `value` itself:
    /// what a pruned layer computes with (`torch.nn.utils.prune`'s forward pre-hook).
    public func masked(_ name: String, _ value: Tensor) throws -> Tensor {
        if detachesParameters { return value.detach() }   // private steps: per-sample gradients only
        guard let mask = pruningMasks[name]?.wrappedValue else { return value }
        return try value * mask
    }

    /// The names of this module's pruned parameters.
    public var prunedParameterNames: [String] { pruningMasks.keys.sorted() }

    /// The mask of the pruned parameter `name` (nil where it is not pruned).
    public func pruningMask(_ name: String) -> Tensor? { pruningMasks[name]?.wrappedValue }

    /// The parameter's slot under its declared name, or an error listing the parameters there are.
    func parameterSlot(_ name: String, operation: String) throws -> TensorSlot {
        let parameters = declaredSlots().filter { !$0.1.isBuffer && $0.1.tensor != nil }
        guard let slot = parameters.first(where: { $0.0 == name })?.1 else {
            throw CortexError.invalidArgument(operation: operation, reason: "\(type(of: self)) has no parameter \"\(name)\" (it has: \(parameters.map(\.0).joined(separator: ", ")))")
        }
        return slot
    }

    /// Sets `mask` (0 or 1 per entry, the parameter's shape) as the mask of the parameter `name`.
    func setPruningMask(_ name: String, _ mask: Tensor) {
        if let slot = pruningMasks[name] { slot.wrappedValue = mask } else { pruningMasks[name] = Buffer(wrappedValue: mask) }
    }

    /// Drops the mask of `name` without touching the parameter.
    func dropPruningMask(_ name: String) { pruningMasks[name] = nil }

    /// Before a state dict with `<name>_orig` and `<name>_mask` keys (a pruned checkpoint, from
    /// Cortex or from PyTorch) loads into a module not pruned there, gives each such parameter
    /// a mask of ones, so the saved mask loads into it.
    func preparePruning(for state: [String: Tensor]) {
        for (path, module) in namedModules() where module is Prunable {
            let prefix = path.isEmpty ? "" : path + "."
            for (name, slot) in module.declaredSlots() where !slot.isBuffer && module.pruningMasks[name] == nil {
                guard let tensor = slot.tensor, state[prefix + name] == nil, state[prefix + name + "_orig"] != nil,
                      state[prefix + name + "_mask"] != nil, let ones = try? Tensor.ones(tensor.shape) else { continue }
                module.setPruningMask(name, ones)
            }
        }
    }
}
