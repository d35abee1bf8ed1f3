import ArgumentParser
import CortexCore
import CortexDistributed
import CortexNN
import Foundation

/// `mpirun -np N cortex distributed-check`: runs every collective of the process group and
/// the data-parallel wrapper's contracts across real ranks, checks each result against what it
/// must be, and prints one `ok` or `FAIL` line per check (rank 0). Exits nonzero on any failure.
/// The distributed tests launch it; it also tells a user whether a cluster is wired right.
struct DistributedCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distributed-check",
        abstract: "Check collectives and data parallelism across the ranks of an mpirun job.")

    func run() throws {
        let group = try ProcessGroups.fromEnvironment()
        var failures = 0
        func check(_ name: String, _ body: () throws -> Bool) {
            let passed: Bool
            do { passed = try body() } catch { passed = false; Train.report("rank \(group.rank): \(name): \(error)") }
            // Every rank must agree the check passed.
            let allPassed = ((try? group.allReduce([passed ? 0 : 1], operation: .sum)[0]) ?? 1) == 0
            if !allPassed { failures += 1 }
            if group.rank == 0 { print("\(allPassed ? "ok" : "FAIL") \(name) (\(group.size) ranks, \(group.backendName))") }
        }
        let (rank, size) = (group.rank, group.size)
        let count = 1000
        func ranked(_ value: (Int, Int) -> Float) throws -> Tensor { try Tensor((0..<count).map { value(rank, $0) }, shape: [count]) }
        let expectedSum = (0..<count).map { index in (0..<size).map { Float($0 + 1 + index) }.reduce(0, +) }

        check("all-reduce sum") {
            let tensor = try ranked { Float($0 + 1 + $1) }
            try group.allReduce(tensor, operation: .sum)
            return try tensor.toFloatArray() == expectedSum
        }
        check("all-reduce mean, max, min") {
            let mean = try ranked { Float($0 + 1 + $1) }, maximum = try ranked { Float($0 + $1) }, minimum = try ranked { Float($0 + $1) }
            try group.allReduce(mean, operation: .mean)
            try group.allReduce(maximum, operation: .max)
            try group.allReduce(minimum, operation: .min)
            let meanOK = zip(try mean.toFloatArray(), expectedSum).allSatisfy { Swift.abs($0 - $1 / Float(size)) <= 1e-5 * Swift.abs($0) }
            return try meanOK && maximum.toFloatArray() == (0..<count).map { Float(size - 1 + $0) } && minimum.toFloatArray() == (0..<count).map { Float($0) }
        }
        check("non-blocking all-reduces waited out of order") {
            let tensors = try (0..<3).map { _ in try ranked { Float($0 + 1 + $1) } }
            let works = try tensors.map { try group.startAllReduce($0, operation: .sum) }
            for work in works.reversed() { try work.wait() }
            guard works.allSatisfy({ $0.isCompleted && $0.wait(timeout: 0) }) else { return false }
            return try tensors.allSatisfy { try $0.toFloatArray() == expectedSum }
        }
        check("broadcast from the last rank") {
            let tensor = try ranked { Float($0 * 1000 + $1) }
            try group.broadcast(tensor, root: size - 1)
            return try tensor.toFloatArray() == (0..<count).map { Float((size - 1) * 1000 + $0) }
        }
        check("all-gather") {
            let gathered = try group.allGather(try Tensor([Float(rank), Float(rank) + 0.5], shape: [2]))
            return try gathered.shape == [2 * size] && gathered.toFloatArray() == (0..<size).flatMap { [Float($0), Float($0) + 0.5] }
        }
        check("reduce-scatter") {
            let input = try Tensor((0..<(3 * size)).map { Float($0 + rank) }, shape: [3 * size])
            let output = try group.reduceScatter(input, operation: .sum)
            let expected = (0..<3).map { index in (0..<size).map { Float(rank * 3 + index + $0) }.reduce(0, +) }
            return try output.toFloatArray() == expected
        }
        check("barrier") { try group.barrier(); return true }
        check("metrics and byte gathers") {
            let sums = try group.allReduce([Double(rank), 1], operation: .sum)
            let bytes = try group.allGather(bytes: Array(repeating: UInt8(rank), count: rank + 1))
            return sums == [Double(size * (size - 1) / 2), Double(size)]
                && bytes == (0..<size).map { Array(repeating: UInt8($0), count: $0 + 1) }
        }
        check("data parallel: rank 0's model everywhere, equal steps, buckets started during backward, BatchNorm buffers from rank 0") {
            // Each rank initialises differently; the wrapper makes them rank 0's.
            let generator = RandomGenerator(seed: UInt64(100 + rank))
            let model = Sequential(Linear(6, 16, generator: generator), BatchNorm1d(16), ReLU(), Linear(16, 3, generator: generator))
            let parallel = try DistributedDataParallel(model, group: group, bucketCapacityMB: 0.0002)
            guard size == 1 || parallel.bucketSizes.count > 1 else { return false }
            let optimizer = SGD(model.parameters(), learningRate: 0.1, momentum: 0.9)
            for step in 0..<3 {
                let data = RandomGenerator(seed: UInt64(step * 10 + rank))
                let x = try Tensor.randn([8, 6], generator: data), y = try Tensor(integers: (0..<8).map { ($0 + rank) % 3 })
                optimizer.zeroGrad()
                try Loss.crossEntropy(parallel(x), targets: y).backward()
                try optimizer.step()
            }
            // With several buckets, all but the last start while backward is still running.
            guard size == 1 || parallel.bucketsStartedDuringBackward >= 3 * (parallel.bucketSizes.count - 1) else { return false }
            _ = try parallel(try Tensor.zeros([2, 6]))   // the buffer broadcast before a forward pass
            return try sameEverywhere(model.stateDict(), group)
        }
        check("data parallel: gradients are the mean over ranks, with noSync accumulation") {
            let model = Sequential(Linear(5, 7, generator: RandomGenerator(seed: 7)), ReLU(), Linear(7, 2, generator: RandomGenerator(seed: 8)))
            let reference = Sequential(Linear(5, 7, generator: RandomGenerator(seed: 7)), ReLU(), Linear(7, 2, generator: RandomGenerator(seed: 8)))
            let parallel = try DistributedDataParallel(model, group: group, bucketCapacityMB: 0.0001)
            let batches = try (0..<2).map { micro in try Tensor.randn([4, 5], generator: RandomGenerator(seed: UInt64(micro * 31 + rank))) }
            try parallel.noSync { try parallel(batches[0]).square().mean().backward() }
            try parallel(batches[1]).square().mean().backward()
            for batch in batches { try reference(batch).square().mean().backward() }
            var matches = true
            for (synchronized, local) in zip(model.parameters(), reference.parameters()) {
                let expected = try local.grad!.contiguous()
                try group.allReduce(expected, operation: .mean)
                let (got, want) = (try synchronized.grad!.toFloatArray(), try expected.toFloatArray())
                matches = matches && zip(got, want).allSatisfy { Swift.abs($0 - $1) <= 1e-5 * Swift.max(Swift.abs($1), 1e-3) }
            }
            return matches
        }
        check("data parallel: a layer used twice (tied weights) is reduced once") {
            let shared = Linear(4, 4, generator: RandomGenerator(seed: 5))
            let model = Sequential(shared, Tanh(), shared)
            let parallel = try DistributedDataParallel(model, group: group)
            try parallel(try Tensor.randn([3, 4], generator: RandomGenerator(seed: UInt64(rank)))).sum().backward()
            return size == 1 || parallel.bucketSizes.reduce(0, +) == 20
        }
        guard failures == 0 else { throw ExitCode(1) }
    }

    /// Whether every tensor is bit-identical on every rank (compared by all-gathering the bytes).
    private func sameEverywhere(_ state: [String: Tensor], _ group: any ProcessGroup) throws -> Bool {
        for (_, tensor) in state.sorted(by: { $0.key < $1.key }) {
            let floats = try tensor.to(.float32).contiguous().toFloatArray()
            let bytes = floats.withUnsafeBytes { Array($0) }
            let all = try group.allGather(bytes: bytes)
            if Set(all).count != 1 { return false }
        }
        return true
    }
}
