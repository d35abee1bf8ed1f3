import CortexCore
import Foundation

/// Batches of a ``Dataset`` in order or in a seeded shuffle (a new permutation each epoch),
/// with the next batch prepared on a background thread while the current one trains.
///
/// ```swift
/// let loader = DataLoader(train, batchSize: 64, shuffle: true, seed: 42)
/// for epoch in 0..<3 {
///     try loader.epoch(epoch).forEachBatch { batch in ... }
/// }
/// ```
public struct DataLoader: Sendable {
    public let dataset: any Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let dropLast: Bool
    public let seed: UInt64
    /// Applied to each batch on the background thread (augmentation, normalisation).
    public let transform: (@Sendable (Batch, RandomGenerator) throws -> Batch)?
    /// This rank's share of each epoch in data-parallel training (it then decides the order;
    /// `shuffle` and `seed` are the sampler's).
    public let sampler: DistributedSampler?
    /// Poisson sampling (Opacus's `DPDataLoader`): each of an epoch's ``batchCount`` batches
    /// holds every example independently with probability ``poissonSampleRate``, so batch
    /// sizes vary (an empty batch is possible), as differential privacy's accounting assumes.
    public let poisson: Bool

    /// With `poisson`, the sample rate is 1 / batchCount (batchCount = ceil(N / batchSize), or
    /// floor with `dropLast`), as Opacus's `DPDataLoader.from_data_loader` sets it.
    public init(_ dataset: any Dataset, batchSize: Int, shuffle: Bool = false, dropLast: Bool = false, seed: UInt64 = 0,
                sampler: DistributedSampler? = nil, poisson: Bool = false, transform: (@Sendable (Batch, RandomGenerator) throws -> Batch)? = nil) {
        self.poisson = poisson
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = sampler?.shuffle ?? shuffle
        self.dropLast = dropLast
        self.seed = sampler?.seed ?? seed
        self.sampler = sampler
        self.transform = transform
    }

    /// Examples read per epoch (this rank's share with a sampler).
    public var exampleCount: Int { sampler?.samplesPerRank ?? dataset.count }

    /// Batches per epoch.
    public var batchCount: Int {
        guard batchSize > 0 else { return 0 }
        return dropLast ? exampleCount / batchSize : (exampleCount + batchSize - 1) / batchSize
    }

    /// The probability q of each example joining a Poisson batch (nil without Poisson sampling).
    public var poissonSampleRate: Double? {
        guard poisson, batchCount > 0 else { return nil }
        return 1 / Double(batchCount)
    }

    /// The Poisson batches of `epoch`: for each example, whether it joins each batch is an
    /// independent draw with probability q (drawn here as geometric gaps between members),
    /// from (seed, epoch) alone.
    public func poissonBatches(epoch: Int) -> [[Int]] {
        guard let rate = poissonSampleRate else { return [] }
        let generator = RandomGenerator(seed: seed &+ 0x9015_5011 &+ UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15)
        let count = exampleCount
        let logKeep = log1p(-rate)
        return (0..<batchCount).map { _ in
            if rate >= 1 { return Array(0..<count) }
            var members: [Int] = []
            var position = -1
            while true {
                // P(gap = k) = (1 - q)^k q: the number of skipped examples before the next member.
                let uniform = (Double(generator.next() >> 11) + 1) * 0x1p-53 // (0, 1]
                let gap = (log(uniform) / logKeep).rounded(.down)
                guard gap < Double(count) else { break }
                position += Int(gap) + 1
                if position >= count { break }
                members.append(position)
            }
            return members
        }
    }

    /// The example order of `epoch`: shuffled from (seed, epoch) alone, so resuming at any epoch
    /// reproduces it exactly.
    public func order(epoch: Int) -> [Int] {
        if let sampler { return sampler.indices(epoch: epoch) }
        return DataLoader.order(count: dataset.count, shuffle: shuffle, seed: seed, epoch: epoch)
    }

    /// The order of `count` examples in `epoch`: identity, or a shuffle drawn from (seed, epoch).
    public static func order(count: Int, shuffle: Bool, seed: UInt64, epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<count) }
        let generator = RandomGenerator(seed: seed &+ UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15)
        return Splits.permutation(count, generator: generator)
    }

    /// The batches of one epoch, each prepared one step ahead on a background thread.
    public func epoch(_ epoch: Int = 0) throws -> BatchSequence {
        guard batchSize > 0 else {
            throw CortexError.invalidArgument(operation: "DataLoader", reason: "batch size \(batchSize) must be positive")
        }
        let batches: [[Int]]
        if poisson {
            guard sampler == nil else {
                throw CortexError.invalidArgument(operation: "DataLoader", reason: "Poisson sampling and a DistributedSampler cannot be combined")
            }
            batches = poissonBatches(epoch: epoch)
        } else {
            let order = order(epoch: epoch)
            batches = (0..<batchCount).map { Array(order[($0 * batchSize)..<min(($0 + 1) * batchSize, order.count)]) }
        }
        let augmentation = RandomGenerator(seed: seed ^ 0xA5A5_5A5A &+ UInt64(truncatingIfNeeded: epoch))
        return BatchSequence(dataset: dataset, batches: batches, transform: transform, generator: augmentation)
    }
}

/// One epoch of batches; iterating it prefetches the next batch in the background.
public struct BatchSequence: Sequence, Sendable {
    let dataset: any Dataset
    let batches: [[Int]]
    let transform: (@Sendable (Batch, RandomGenerator) throws -> Batch)?
    let generator: RandomGenerator

    public var count: Int { batches.count }

    /// The first `maximumLength` batches only.
    public func prefix(_ maximumLength: Int) -> BatchSequence {
        BatchSequence(dataset: dataset, batches: Array(batches.prefix(Swift.max(maximumLength, 0))), transform: transform, generator: generator)
    }

    public func makeIterator() -> Iterator { Iterator(sequence: self) }

    /// Runs `body` on each batch in order, rethrowing the first read or transform error.
    public func forEachBatch(_ body: (Batch) throws -> Void) throws {
        for result in self { try body(result.get()) }
    }

    /// Yields `Result`s so a failing read surfaces as a thrown error at the loop, not a crash.
    public final class Iterator: IteratorProtocol {
        private let sequence: BatchSequence
        private var nextIndex = 0
        private var pending: PendingBatch?

        init(sequence: BatchSequence) {
            self.sequence = sequence
            pending = prefetch(0)
        }

        private func prefetch(_ index: Int) -> PendingBatch? {
            guard index < sequence.batches.count else { return nil }
            let pending = PendingBatch()
            let sequence = self.sequence
            DispatchQueue.global(qos: .userInitiated).async {
                pending.fulfil(Result {
                    let indices = sequence.batches[index]
                    // An empty (Poisson) batch: the first example's shapes with no rows.
                    if indices.isEmpty, sequence.dataset.count > 0 {
                        let one = try sequence.dataset.batch([0])
                        return Batch(inputs: try one.inputs.slice(axis: 0, start: 0, end: 0), targets: try one.targets.slice(axis: 0, start: 0, end: 0))
                    }
                    let batch = try sequence.dataset.batch(indices)
                    return try sequence.transform.map { try $0(batch, sequence.generator) } ?? batch
                })
            }
            return pending
        }

        public func next() -> Result<Batch, any Error>? {
            guard let current = pending else { return nil }
            nextIndex += 1
            pending = prefetch(nextIndex)
            return current.wait()
        }
    }
}

/// A batch being prepared on another thread.
final class PendingBatch: @unchecked Sendable {
    private var result: Result<Batch, any Error>?
    private let condition = NSCondition()

    func fulfil(_ result: Result<Batch, any Error>) {
        condition.lock()
        self.result = result
        condition.signal()
        condition.unlock()
    }

    func wait() -> Result<Batch, any Error> {
        condition.lock()
        while result == nil { condition.wait() }
        let value = result!
        condition.unlock()
        return value
    }
}
