import CortexCore
import Foundation

/// How much to prune, as `torch.nn.utils.prune`'s `amount`: a fraction of the entries (or
/// channels) still unpruned, rounded half to even as Python's `round`, or a count of them.
/// A float literal is a fraction, an integer literal a count.
public enum PruningAmount: Sendable, Equatable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral, CustomStringConvertible {
    case fraction(Double)
    case count(Int)

    public init(floatLiteral value: Double) { self = .fraction(value) }
    public init(integerLiteral value: Int) { self = .count(value) }

    public var description: String {
        switch self {
        case let .fraction(value): return "\(value)"
        case let .count(value): return "\(value)"
        }
    }

    /// `_validate_pruning_amount_init`: a fraction in [0, 1] or a count of at least 0.
    func validate(_ operation: String) throws {
        switch self {
        case let .fraction(value) where !(value >= 0 && value <= 1):
            throw CortexError.invalidArgument(operation: operation, reason: "amount=\(value) should be a fraction in [0, 1] or a non-negative count")
        case let .count(value) where value < 0:
            throw CortexError.invalidArgument(operation: operation, reason: "amount=\(value) should be a fraction in [0, 1] or a non-negative count")
        default: return
        }
    }

    /// How many of `size` entries to prune (`_compute_nparams_toprune`), checked against `size`.
    func entries(of size: Int, _ operation: String, what: String) throws -> Int {
        let count: Int
        switch self {
        case let .fraction(value): count = Int((value * Double(size)).rounded(.toNearestOrEven))
        case let .count(value): count = value
        }
        guard count <= size else {
            throw CortexError.invalidArgument(operation: operation, reason: "amount=\(count) is more than the \(size) \(what) there are to prune")
        }
        return count
    }
}

/// Pruning with `torch.nn.utils.prune`'s methods, names and semantics: a pruned parameter
/// `weight` is kept as `weight_orig` (still trained) and the buffer `weight_mask`, the layer
/// computes with their product, and its checkpoint holds both under those keys, as PyTorch's.
/// Pruning a parameter again prunes among the entries (or channels) still left, as PyTorch's
/// `PruningContainer` does; ``remove(_:name:)`` folds the mask into the parameter.
/// The entries chosen are those `torch.topk` chooses, ties included.
///
/// ```swift
/// let model = Classifiers.mnistMLP()
/// try Pruning.l1Unstructured(model.layers[1], name: "weight", amount: 0.3)     // 30% of fc1
/// try Pruning.globalUnstructured(Pruning.weights(of: model), amount: 0.8)     // 80% over all
/// try Pruning.lnStructured(conv, name: "weight", amount: 0.5, n: 2, dim: 0)  // half the filters
/// print(Pruning.sparsity(of: model).table)
/// try Pruning.remove(conv, name: "weight")
/// ```
public enum Pruning {
    /// The unstructured methods `globalUnstructured` accepts.
    public enum UnstructuredMethod: String, Sendable, CaseIterable {
        case l1 = "l1", random = "random"
    }

    /// `prune.identity`: a mask of ones, so the parameter is reparametrised without pruning.
    public static func identity(_ module: Module, name: String) throws {
        try apply(module, name, operation: "Pruning.identity") { _, mask in mask }
    }

    /// `prune.l1_unstructured`: zero the `amount` entries with the smallest magnitude (of
    /// `importanceScores` where given, else of the parameter as the layer uses it).
    public static func l1Unstructured(_ module: Module, name: String, amount: PruningAmount, importanceScores: Tensor? = nil) throws {
        let operation = "Pruning.l1Unstructured"
        try amount.validate(operation)
        try apply(module, name, importanceScores: importanceScores, operation: operation) { scores, mask in
            try unstructuredMask(scores: scores.scores.map { Swift.abs(Double($0)) }, mask: mask, amount: amount, largest: false, operation: operation)
        }
    }

    /// `prune.random_unstructured`: zero `amount` entries chosen uniformly at random.
    public static func randomUnstructured(_ module: Module, name: String, amount: PruningAmount, generator: RandomGenerator = .default) throws {
        let operation = "Pruning.randomUnstructured"
        try amount.validate(operation)
        try apply(module, name, operation: operation) { scores, mask in
            try unstructuredMask(scores: generator.uniformFloats(scores.scores.count).map(Double.init), mask: mask, amount: amount, largest: true, operation: operation)
        }
    }

    /// `prune.ln_structured`: zero the `amount` slices along `dim` (dim 0: output channels or
    /// rows) with the smallest L`n` norm; `n` may be `.infinity`, or 0 to count nonzero entries.
    public static func lnStructured(_ module: Module, name: String, amount: PruningAmount, n: Double, dim: Int,
                                    importanceScores: Tensor? = nil) throws {
        let operation = "Pruning.lnStructured"
        try amount.validate(operation)
        guard n >= 0 else { throw CortexError.invalidArgument(operation: operation, reason: "n=\(n) must be 0, positive or infinity") }
        try apply(module, name, importanceScores: importanceScores, operation: operation) { scores, mask in
            try structuredMask(scores: scores, mask: mask, amount: amount, dim: dim, operation: operation) { slice in
                norm(slice.map(Double.init), n)
            }
        }
    }

    /// `prune.random_structured`: zero `amount` random slices along `dim`.
    public static func randomStructured(_ module: Module, name: String, amount: PruningAmount, dim: Int,
                                        generator: RandomGenerator = .default) throws {
        let operation = "Pruning.randomStructured"
        try amount.validate(operation)
        try apply(module, name, operation: operation) { scores, mask in
            try structuredMask(scores: scores, mask: mask, amount: amount, dim: dim, operation: operation) { _ in Double(generator.uniformFloats(1)[0]) }
        }
    }

    /// `prune.global_unstructured`: one ranking over every listed parameter together, so the
    /// layers lose different fractions (each layer's entries then pruned as its own mask).
    public static func globalUnstructured(_ parameters: [(module: Module, name: String)], method: UnstructuredMethod = .l1,
                                          amount: PruningAmount, importanceScores: [Tensor?]? = nil,
                                          generator: RandomGenerator = .default) throws {
        let operation = "Pruning.globalUnstructured"
        try amount.validate(operation)
        guard !parameters.isEmpty else { throw CortexError.invalidArgument(operation: operation, reason: "no parameters to prune") }
        if let importanceScores, importanceScores.count != parameters.count {
            throw CortexError.invalidArgument(operation: operation, reason: "\(importanceScores.count) importance scores for \(parameters.count) parameters")
        }
        var scores: [Float] = [], masks: [Float] = [], shapes: [[Int]] = []
        for (index, (module, name)) in parameters.enumerated() {
            let (current, mask) = try state(module, name, importanceScores: importanceScores?[index] ?? nil, operation: operation)
            scores += current.scores
            masks += mask
            shapes.append(current.shape)
        }
        let ranked = method == .l1 ? scores.map { Swift.abs(Double($0)) } : generator.uniformFloats(scores.count).map(Double.init)
        let combined = try unstructuredMask(scores: ranked, mask: masks, amount: amount, largest: method == .random, operation: operation)
        var start = 0
        for ((module, name), shape) in zip(parameters, shapes) {
            let count = shape.reduce(1, *)
            module.setPruningMask(name, try Tensor(Array(combined[start..<start + count]), shape: shape))
            start += count
        }
    }

    /// `prune.remove`: the parameter becomes its masked value for good and the mask is dropped
    /// (the tensor keeps its identity, so an optimizer holding it goes on training it).
    public static func remove(_ module: Module, name: String) throws {
        let slot = try module.parameterSlot(name, operation: "Pruning.remove")
        guard let mask = module.pruningMask(name), let parameter = slot.tensor else {
            throw CortexError.invalidArgument(operation: "Pruning.remove", reason: "parameter \"\(name)\" of \(type(of: module)) is not pruned")
        }
        try withNoGrad { try parameter.copy(from: parameter * mask) }
        module.dropPruningMask(name)
    }

    /// Folds every mask below `model` into its parameter.
    public static func removeAll(_ model: Module) throws {
        for (_, module) in model.namedModules() {
            for name in module.prunedParameterNames { try remove(module, name: name) }
        }
    }

    /// Whether any parameter below `model` is pruned (`prune.is_pruned`).
    public static func isPruned(_ model: Module) -> Bool {
        model.namedModules().contains { !$0.1.prunedParameterNames.isEmpty }
    }

    /// The `weight` of every prunable layer below `model` (Linear, Conv1d, Conv2d, Embedding),
    /// with its dotted path: the usual list to hand `globalUnstructured`.
    public static func weights(of model: Module) -> [(module: Module, name: String)] {
        model.namedModules().compactMap { _, module in module is Prunable ? (module, "weight") : nil }
    }

    // MARK: Masks

    /// The parameter's values as the layer uses them (importance by default) and its mask.
    private static func state(_ module: Module, _ name: String, importanceScores: Tensor?, operation: String) throws
        -> (scores: (scores: [Float], shape: [Int]), mask: [Float]) {
        guard module is Prunable else {
            throw CortexError.invalidArgument(operation: operation, reason: "\(type(of: module)) is not prunable: its forward pass applies no mask (Linear, Conv1d, Conv2d and Embedding are; a layer conforming to Prunable reads its parameters through masked(_:_:))")
        }
        let slot = try module.parameterSlot(name, operation: operation)
        guard let parameter = slot.tensor else { throw CortexError.invalidArgument(operation: operation, reason: "parameter \"\(name)\" is empty") }
        let effective = try withNoGrad { try module.masked(name, parameter) }
        if let importanceScores, importanceScores.shape != parameter.shape {
            throw CortexError.shapeMismatch(operation: operation, shapes: [importanceScores.shape, parameter.shape],
                                            reason: "(importance scores must have the shape of \(name))")
        }
        let scores = try (importanceScores ?? effective).detach().to(.float32).contiguous().toFloatArray()
        let mask = try module.pruningMask(name).map { try $0.contiguous().toFloatArray() } ?? [Float](repeating: 1, count: parameter.count)
        return ((scores, parameter.shape), mask)
    }

    private static func apply(_ module: Module, _ name: String, importanceScores: Tensor? = nil, operation: String,
                              newMask: ((scores: [Float], shape: [Int]), [Float]) throws -> [Float]) throws {
        let (scores, mask) = try state(module, name, importanceScores: importanceScores, operation: operation)
        module.setPruningMask(name, try Tensor(try newMask(scores, mask), shape: scores.shape))
    }

    /// Among the entries the mask keeps, zero the `amount` that rank first (smallest, or largest
    /// with `largest`) by `scores`: `PruningContainer` over `L1Unstructured`/`RandomUnstructured`.
    static func unstructuredMask(scores: [Double], mask: [Float], amount: PruningAmount, largest: Bool, operation: String) throws -> [Float] {
        let kept = mask.indices.filter { mask[$0] == 1 }
        let count = try amount.entries(of: kept.count, operation, what: "unpruned entries")
        var result = mask
        for position in TorchSelection.topK(kept.map { scores[$0] }, k: count, largest: largest) { result[kept[position]] = 0 }
        return result
    }

    /// Among the slices along `dim` the mask keeps (any entry nonzero), keep the ones with the
    /// largest `importance` and zero the `amount` others: `PruningContainer` over `LnStructured`.
    static func structuredMask(scores: (scores: [Float], shape: [Int]), mask: [Float], amount: PruningAmount, dim: Int, operation: String,
                               importance: ([Float]) -> Double) throws -> [Float] {
        let shape = scores.shape
        guard dim >= -shape.count && dim < shape.count else { throw CortexError.invalidAxis(operation: operation, axis: dim, rank: shape.count) }
        let axis = dim < 0 ? dim + shape.count : dim
        let inner = shape[(axis + 1)...].reduce(1, *), size = shape[axis], outer = shape[..<axis].reduce(1, *)
        func entries(of slice: Int) -> [Int] {
            (0..<outer).flatMap { o in (0..<inner).map { i in (o * size + slice) * inner + i } }
        }
        let keptSlices = (0..<size).filter { slice in entries(of: slice).contains { mask[$0] != 0 } }
        let count = try amount.entries(of: keptSlices.count, operation, what: "unpruned slices along dim \(dim)")
        guard count > 0 else { return mask }
        let norms = keptSlices.map { slice in importance(entries(of: slice).map { scores.scores[$0] }) }
        let keep = Set(TorchSelection.topK(norms, k: keptSlices.count - count, largest: true).map { keptSlices[$0] })
        var result = mask
        for slice in keptSlices where !keep.contains(slice) {
            for entry in entries(of: slice) { result[entry] = 0 }
        }
        return result
    }

    /// `torch.norm(p: n)` of the values: n = 0 counts nonzeros, infinity takes the largest magnitude.
    static func norm(_ values: [Double], _ n: Double) -> Double {
        if n == 0 { return Double(values.filter { $0 != 0 }.count) }
        if n == .infinity { return values.map(Swift.abs).max() ?? 0 }
        if n == 1 { return values.reduce(0) { $0 + Swift.abs($1) } }
        if n == 2 { return values.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        return Foundation.pow(values.reduce(0) { $0 + Foundation.pow(Swift.abs($1), n) }, 1 / n)
    }
}

extension Pruning {
    /// How ``prune(_:toSparsity:method:generator:)`` ranks entries.
    public enum SparsityMethod: String, Sendable, CaseIterable {
        /// Each parameter alone, by magnitude (`l1_unstructured` on each).
        case l1
        /// All parameters together, by magnitude (`global_unstructured`).
        case global
        /// Each parameter alone, at random.
        case random
    }

    /// Prunes more of `parameters` until `sparsity` of their entries are masked: of each
    /// parameter (l1, random), or of all together (global). Entries masked already count, so
    /// calling it with a rising target prunes in steps, as iterative schedules do.
    public static func prune(_ parameters: [(module: Module, name: String)], toSparsity sparsity: Double, method: SparsityMethod = .l1,
                             generator: RandomGenerator = .default) throws {
        guard sparsity >= 0 && sparsity <= 1 else {
            throw CortexError.invalidArgument(operation: "Pruning.prune", reason: "sparsity \(sparsity) must be in [0, 1]")
        }
        func counts(_ module: Module, _ name: String) throws -> (total: Int, masked: Int) {
            let total = try module.parameterSlot(name, operation: "Pruning.prune").tensor?.count ?? 0
            let masked = try module.pruningMask(name).map { try $0.toFloatArray().filter { $0 == 0 }.count } ?? 0
            return (total, masked)
        }
        func more(_ total: Int, _ masked: Int) -> Int { max(0, Int((sparsity * Double(total)).rounded(.toNearestOrEven)) - masked) }
        if method == .global {
            let all = try parameters.map { try counts($0.module, $0.name) }
            try globalUnstructured(parameters, amount: .count(more(all.reduce(0) { $0 + $1.total }, all.reduce(0) { $0 + $1.masked })))
            return
        }
        for (module, name) in parameters {
            let (total, masked) = try counts(module, name)
            if method == .random {
                try randomUnstructured(module, name: name, amount: .count(more(total, masked)), generator: generator)
            } else {
                try l1Unstructured(module, name: name, amount: .count(more(total, masked)))
            }
        }
    }
}
