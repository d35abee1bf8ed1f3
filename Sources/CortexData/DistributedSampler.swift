import CortexCore

/// Which examples one rank of a data-parallel job reads each epoch, as PyTorch's
/// `DistributedSampler`: the epoch's order (a shuffle seeded by seed and epoch, the same on
/// every rank and the same as a ``DataLoader``'s own shuffle) is padded by repeating its first
/// examples to a multiple of the rank count, or trimmed with `dropLast`, and rank r takes
/// positions r, r + size, r + 2·size, ... So batch i of every rank together holds exactly
/// the examples of batch i of one process whose batch is `size` times larger.
///
/// With `padded: false` (for evaluation) nothing is repeated and the shares may differ by one.
///
/// ```swift
/// let sampler = try DistributedSampler(count: train.count, rank: group.rank, size: group.size, seed: 0)
/// let loader = DataLoader(train, batchSize: 64 / group.size, sampler: sampler)
/// ```
public struct DistributedSampler: Sendable, Equatable {
    public let count: Int
    public let rank: Int
    public let size: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool
    public let padded: Bool

    public init(count: Int, rank: Int, size: Int, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false, padded: Bool = true) throws {
        guard size >= 1, rank >= 0, rank < size else {
            throw CortexError.invalidArgument(operation: "DistributedSampler", reason: "rank \(rank) must be in 0..<\(size) ranks")
        }
        guard count >= size else {
            throw CortexError.invalidArgument(operation: "DistributedSampler",
                                              reason: "\(count) examples cannot be shared among \(size) ranks: each rank needs at least one")
        }
        (self.count, self.rank, self.size, self.shuffle, self.seed, self.dropLast, self.padded) = (count, rank, size, shuffle, seed, dropLast, padded)
    }

    /// Examples this rank reads per epoch.
    public var samplesPerRank: Int {
        if dropLast { return count / size }
        if padded { return (count + size - 1) / size }
        return count / size + (rank < count % size ? 1 : 0)
    }

    /// This rank's examples for `epoch`, in the order they are read.
    public func indices(epoch: Int) -> [Int] {
        let order = DataLoader.order(count: count, shuffle: shuffle, seed: seed, epoch: epoch)
        let total: Int
        if dropLast { total = (count / size) * size } else if padded { total = ((count + size - 1) / size) * size } else { total = count }
        return stride(from: rank, to: total, by: size).map { order[$0 % count] }
    }
}
