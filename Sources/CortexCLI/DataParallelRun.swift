import CortexCore
import CortexData
import CortexDistributed
import CortexNN
import CortexText
import Foundation

/// How a recipe shares its work among the ranks `mpirun` started (one rank without mpirun):
/// `--batch-size` stays the global batch, each rank trains on its share, gradients are averaged
/// by ``DistributedDataParallel``, and only rank 0 prints and writes files.
struct DataParallelRun {
    let group: any ProcessGroup

    static let single = DataParallelRun(group: SingleProcessGroup())

    var rank: Int { group.rank }
    var size: Int { group.size }
    var isLeader: Bool { group.rank == 0 }
    var isDistributed: Bool { group.size > 1 }

    /// Each rank's share of a global batch; refused, with the numbers, when it does not divide.
    func localBatchSize(_ global: Int) throws -> Int {
        guard global % size == 0 else {
            let lower = global / size * size, upper = lower + size
            throw CollectiveFailure(CortexError.invalidArgument(
                operation: "cortex train",
                reason: "--batch-size \(global) does not divide among \(size) ranks: use a multiple of \(size) (\(lower > 0 ? "\(lower) or " : "")\(upper))"))
        }
        return global / size
    }

    /// The wrapper that averages gradients, or nil in a single process. Hold it for the whole
    /// run: its hooks average the gradients while it lives.
    func wrap(_ model: Module) throws -> DistributedDataParallel? {
        try collectively { try DistributedDataParallel(model, group: group) }
    }

    /// ``localBatchSize(_:)``'s check of the global batch, then ``wrap(_:)``: for the recipes
    /// that draw their global batch themselves.
    func wrap(_ model: Module, globalBatch: Int) throws -> DistributedDataParallel? {
        _ = try localBatchSize(globalBatch)
        return try wrap(model)
    }

    /// This rank's share of `count` training examples each epoch (shuffled from `seed`).
    func trainingSampler(count: Int, seed: UInt64) throws -> DistributedSampler? {
        try collectively { try DistributedSampler(count: count, rank: rank, size: size, shuffle: true, seed: seed) }
    }

    /// This rank's unpadded share of `count` evaluation examples.
    func evaluationSampler(count: Int) throws -> DistributedSampler? {
        try collectively { try DistributedSampler(count: count, rank: rank, size: size, shuffle: false, padded: false) }
    }

    /// `body`, which depends only on what every rank holds alike (the data, the seed): its errors
    /// are met by every rank, and marked so across ranks.
    func onEveryRank<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as CortexError where isDistributed { throw CollectiveFailure(error) }
    }

    /// `make()` across several ranks (nil in one process), its errors marked as met by every rank.
    private func collectively<T>(_ make: () throws -> T) throws -> T? {
        guard isDistributed else { return nil }
        do { return try make() } catch let error as CortexError { throw CollectiveFailure(error) }
    }

    /// The line a recipe prints at the end: time spent waiting for gradient all-reduces.
    func communicationSummary(_ wrapper: DistributedDataParallel?, seconds: Double) -> String? {
        wrapper.map { String(format: "%d ranks: %.1f s of %.1f waiting for gradient all-reduces", size, $0.communicationWaitSeconds, seconds) }
    }

    /// A random batch of `global` windows drawn the same on every rank (the generators agree),
    /// of which this rank takes its contiguous share: together the ranks train on exactly the
    /// windows one process would draw.
    func randomBatch(_ tokens: TokenSequence, global: Int, length: Int, generator: RandomGenerator) throws -> (inputs: Tensor, targets: Tensor) {
        let offsets = try tokens.randomOffsets(global, length: length, generator: generator)
        let share = global / size
        return try tokens.batch(offsets: Array(offsets[(rank * share)..<((rank + 1) * share)]), length: length)
    }

    /// True on every rank when it is true on any (a wall-clock limit one rank reached first).
    func any(_ flag: Bool) throws -> Bool {
        guard isDistributed else { return flag }
        return try group.allReduce([flag ? 1 : 0], operation: .max)[0] > 0
    }

    /// The largest of every rank's `value`.
    func maximum(_ value: Double) throws -> Double {
        guard isDistributed else { return value }
        return try group.allReduce([value], operation: .max)[0]
    }

    /// The mean of every rank's `value`.
    func mean(_ value: Double) throws -> Double {
        guard isDistributed else { return value }
        return try group.allReduce([value], operation: .mean)[0]
    }
}

/// An error every rank meets at the same point (a batch that does not divide, models that
/// differ): each rank reports it and the job ends cleanly, where an error only one rank saw
/// aborts the job so no other rank waits for it.
struct CollectiveFailure: Error {
    let error: CortexError
    init(_ error: CortexError) { self.error = error }
}
