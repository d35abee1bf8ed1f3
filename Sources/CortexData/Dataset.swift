import CortexCore

/// A batch of examples: inputs (B, ...) and targets (B, ...).
public struct Batch: Sendable {
    public var inputs: Tensor
    public var targets: Tensor
    public init(inputs: Tensor, targets: Tensor) {
        self.inputs = inputs
        self.targets = targets
    }
    public var count: Int { inputs.shape.first ?? 0 }
}

/// A finite, indexable collection of examples that can gather any set of them into a batch.
public protocol Dataset: Sendable {
    var count: Int { get }
    /// The examples at `indices`, stacked along a new leading axis.
    func batch(_ indices: [Int]) throws -> Batch
}

/// Examples stored as two tensors whose first axis indexes the examples (`TensorDataset`).
///
/// ```swift
/// let data = try TensorDataset(inputs: images, targets: labels)
/// for batch in DataLoader(data, batchSize: 64, shuffle: true, seed: 0) { ... }
/// ```
public struct TensorDataset: Dataset {
    public let inputs: Tensor
    public let targets: Tensor

    public init(inputs: Tensor, targets: Tensor) throws {
        guard inputs.rank >= 1, targets.rank >= 1, inputs.shape[0] == targets.shape[0] else {
            throw CortexError.shapeMismatch(operation: "TensorDataset", shapes: [inputs.shape, targets.shape],
                                            reason: "(inputs and targets) must have the same number of examples on axis 0")
        }
        self.inputs = inputs
        self.targets = targets
    }

    public var count: Int { inputs.shape[0] }

    public func batch(_ indices: [Int]) throws -> Batch {
        let selection = try Tensor(integers: indices)
        return Batch(inputs: try inputs.indexSelect(axis: 0, indices: selection),
                     targets: try targets.indexSelect(axis: 0, indices: selection))
    }
}

/// A dataset whose examples each belong to one class, so it can be split stratified.
public protocol ClassLabelled {
    /// The class index of every example, in order.
    func classLabels() throws -> [Int]
}

extension TensorDataset: ClassLabelled {
    /// The targets as class indices (targets of one integer class per example).
    public func classLabels() throws -> [Int] {
        guard targets.rank == 1 else {
            throw CortexError.invalidArgument(operation: "TensorDataset.classLabels", reason: "targets of shape \(targets.shape) are not one class per example")
        }
        return try targets.toIntArray()
    }
}

/// A view of some examples of another dataset (a split or a fold).
public struct Subset: Dataset {
    public let base: any Dataset
    public let indices: [Int]

    public init(_ base: any Dataset, indices: [Int]) throws {
        if let bad = indices.first(where: { $0 < 0 || $0 >= base.count }) {
            throw CortexError.indexOutOfRange(operation: "Subset", index: bad, bound: base.count)
        }
        self.base = base
        self.indices = indices
    }

    public var count: Int { indices.count }
    public func batch(_ positions: [Int]) throws -> Batch {
        if let bad = positions.first(where: { $0 < 0 || $0 >= indices.count }) {
            throw CortexError.indexOutOfRange(operation: "Subset.batch", index: bad, bound: indices.count)
        }
        return try base.batch(positions.map { indices[$0] })
    }
}

/// Train/validation/test splits and k-fold cross-validation, reproducible from a seed.
public enum Splits {
    /// A seeded permutation of 0..<count (Fisher-Yates).
    public static func permutation(_ count: Int, generator: RandomGenerator) -> [Int] {
        var order = Array(0..<count)
        if count > 1 {
            for index in stride(from: count - 1, to: 0, by: -1) { order.swapAt(index, generator.integer(below: index + 1)) }
        }
        return order
    }

    /// Splits `dataset` into parts with the given fractions (which must add up to 1, as
    /// `random_split`); rounding leftovers go to the first parts.
    public static func random(_ dataset: any Dataset, fractions: [Double], seed: UInt64) throws -> [Subset] {
        guard !fractions.isEmpty, fractions.allSatisfy({ $0 >= 0 }), Swift.abs(fractions.reduce(0, +) - 1) < 1e-6 else {
            throw CortexError.invalidArgument(operation: "Splits.random", reason: "fractions \(fractions) must be non-negative and add up to 1")
        }
        var sizes = fractions.map { Int(Double(dataset.count) * $0) }
        var leftover = dataset.count - sizes.reduce(0, +)
        var part = 0
        while leftover > 0 { sizes[part % sizes.count] += 1; leftover -= 1; part += 1 }
        let order = permutation(dataset.count, generator: RandomGenerator(seed: seed))
        var start = 0
        return try sizes.map { size in
            defer { start += size }
            return try Subset(dataset, indices: Array(order[start..<(start + size)]))
        }
    }

    /// Holds out `fraction` of `dataset` for validation, seeded, as Keras's `validation_split`
    /// but drawn at random: with `labels` (one class per example) the split is stratified, each
    /// class giving round(fraction × its count) examples (as scikit-learn's
    /// `train_test_split(stratify=)`), so both parts keep the class proportions.
    ///
    /// ```swift
    /// let (train, validation) = try Splits.holdOut(trainSet, fraction: 0.1, labels: trainSet.targets.toIntArray(), seed: 0)
    /// ```
    public static func holdOut(_ dataset: any Dataset, fraction: Double, labels: [Int]? = nil, seed: UInt64) throws -> (train: Subset, validation: Subset) {
        guard fraction > 0, fraction < 1 else {
            throw CortexError.invalidArgument(operation: "Splits.holdOut", reason: "the validation fraction \(fraction) must be in (0, 1)")
        }
        if let labels, labels.count != dataset.count {
            throw CortexError.invalidArgument(operation: "Splits.holdOut", reason: "\(labels.count) labels for \(dataset.count) examples")
        }
        var train: [Int], validation: [Int]
        if let labels {
            let parts = try stratified(labels: labels, fractions: [fraction], seed: seed)
            (validation, train) = (parts[0], parts[1])
        } else {
            let order = permutation(dataset.count, generator: RandomGenerator(seed: seed))
            let held = Int((Double(dataset.count) * fraction).rounded())
            (validation, train) = (Array(order.prefix(held)).sorted(), Array(order.dropFirst(held)).sorted())
        }
        guard !train.isEmpty, !validation.isEmpty else {
            throw CortexError.invalidArgument(operation: "Splits.holdOut", reason: "a validation fraction of \(fraction) of \(dataset.count) examples leaves \(train.count) to train on and \(validation.count) to validate")
        }
        return (try Subset(dataset, indices: train), try Subset(dataset, indices: validation))
    }

    /// `folds` (train, validation) pairs for k-fold cross-validation over a seeded shuffle;
    /// every example is in exactly one validation fold.
    public static func kFold(_ dataset: any Dataset, folds: Int, seed: UInt64) throws -> [(train: Subset, validation: Subset)] {
        guard folds >= 2, folds <= dataset.count else {
            throw CortexError.invalidArgument(operation: "Splits.kFold", reason: "folds \(folds) must be between 2 and the dataset size \(dataset.count)")
        }
        let order = permutation(dataset.count, generator: RandomGenerator(seed: seed))
        return try (0..<folds).map { fold in
            let start = dataset.count * fold / folds, end = dataset.count * (fold + 1) / folds
            let validation = Array(order[start..<end])
            let train = Array(order[..<start]) + Array(order[end...])
            return (try Subset(dataset, indices: train), try Subset(dataset, indices: validation))
        }
    }
}
