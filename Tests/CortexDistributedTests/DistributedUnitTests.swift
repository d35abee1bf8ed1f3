import CortexCore
import CortexData
import CortexNN
import CortexTestSupport
import Foundation
import Testing
@testable import CortexDistributed

/// The parts of data parallelism that need no second process: the sampler, the single-process
/// group, autograd's gradient hooks and end-of-backward callbacks, the model comparison and
/// crash-safe checkpoint directories.
@Suite struct DistributedUnitTests {
    @Test func samplerSharesAreDisjointStridedAndPadded() throws {
        let count = 10, size = 3
        let shares = try (0..<size).map { try DistributedSampler(count: count, rank: $0, size: size, seed: 5).indices(epoch: 2) }
        #expect(shares.allSatisfy { $0.count == 4 })   // ceil(10 / 3), padded
        let order = DataLoader.order(count: count, shuffle: true, seed: 5, epoch: 2)
        // Rank r takes positions r, r + size, ... of the (padded) epoch order.
        let padded = order + order.prefix(2)
        for rank in 0..<size { #expect(shares[rank] == stride(from: rank, to: 12, by: size).map { padded[$0] }) }
        #expect(Set(shares.flatMap { $0 }) == Set(0..<count))
        // A new epoch, a new shuffle; the same epoch, the same one.
        #expect(try DistributedSampler(count: count, rank: 0, size: size, seed: 5).indices(epoch: 3) != shares[0])
        #expect(try DistributedSampler(count: count, rank: 0, size: size, seed: 5).indices(epoch: 2) == shares[0])
    }

    @Test func samplerDropLastAndUnpaddedShares() throws {
        let dropped = try (0..<3).map { try DistributedSampler(count: 10, rank: $0, size: 3, seed: 1, dropLast: true).indices(epoch: 0) }
        #expect(dropped.allSatisfy { $0.count == 3 })
        #expect(Set(dropped.flatMap { $0 }).count == 9)
        let unpadded = try (0..<3).map { try DistributedSampler(count: 10, rank: $0, size: 3, shuffle: false, padded: false) }
        #expect(unpadded.map(\.samplesPerRank) == [4, 3, 3])
        #expect(unpadded.flatMap { $0.indices(epoch: 0) }.sorted() == Array(0..<10))
    }

    /// Batch i of every rank together is batch i of one process with a batch `size` times larger.
    @Test func ranksTogetherReadTheSingleProcessBatches() throws {
        let data = try TensorDataset(inputs: Tensor((0..<200).map(Float.init), shape: [200, 1]), targets: Tensor(integers: Array(0..<200)))
        let whole = try DataLoader(data, batchSize: 64, shuffle: true, seed: 9).epoch(1).map { try $0.get().targets.toIntArray() }
        let shares = try (0..<2).map { rank in
            try DataLoader(data, batchSize: 32, sampler: DistributedSampler(count: 200, rank: rank, size: 2, seed: 9)).epoch(1)
                .map { try $0.get().targets.toIntArray() }
        }
        for batch in 0..<3 { #expect(Set(shares[0][batch] + shares[1][batch]) == Set(whole[batch])) }
    }

    @Test func samplerRefusesMoreRanksThanExamples() {
        expectCortexError(["3 examples", "4 ranks"]) { _ = try DistributedSampler(count: 3, rank: 0, size: 4) }
        expectCortexError(["rank 2", "0..<2"]) { _ = try DistributedSampler(count: 30, rank: 2, size: 2) }
    }

    @Test func singleProcessGroupIsTheIdentity() throws {
        let group = SingleProcessGroup()
        let tensor = try Tensor([1, 2, 3])
        try group.allReduce(tensor, operation: .mean)
        #expect(try tensor.toFloatArray() == [1, 2, 3])
        #expect(try group.allGather(tensor).toFloatArray() == [1, 2, 3])
        #expect(try group.reduceScatter(tensor).toFloatArray() == [1, 2, 3])
        #expect(try group.allReduce([1.5, 2], operation: .sum) == [1.5, 2])
        expectCortexError(["float32", "int64"]) { try group.allReduce(try Tensor(integers: [1, 2])) }
        expectCortexError(["contiguous"]) { try group.broadcast(try Tensor.zeros([2, 3]).transpose(0, 1)) }
        expectCortexError(["index 1", "0..<1"]) { try group.broadcast(tensor, root: 1) }
    }

    /// Hooks fire once per backward pass, when the leaf's gradient is final, last layer first.
    @Test func postAccumulateHooksFireInReverseOrderWithFinalGradients() throws {
        let generator = RandomGenerator(seed: 3)
        let first = Linear(4, 5, generator: generator), second = Linear(5, 2, generator: generator)
        var fired: [String] = []
        var seen: [String: [Float]] = [:]
        for (name, parameter) in [("first.weight", first.weight), ("second.weight", second.weight)] {
            try parameter.registerPostAccumulateGradHook { tensor in
                fired.append(name)
                seen[name] = try tensor.grad!.toFloatArray()
            }
        }
        let x = try Tensor.randn([3, 4], generator: generator)
        // `first.weight` is used twice: its hook waits for both uses.
        let hidden = try first(x).relu() + first(x)
        try second(hidden).sum().backward()
        #expect(fired == ["second.weight", "first.weight"])
        #expect(seen["first.weight"] == (try first.weight.grad!.toFloatArray()))
        #expect(seen["second.weight"] == (try second.weight.grad!.toFloatArray()))
    }

    @Test func backwardPassCallbacksRunBeforeBackwardReturns() throws {
        let weight = try Tensor([1, 2]).requiringGrad()
        var log: [String] = []
        let handle = try weight.registerPostAccumulateGradHook { _ in
            log.append("hook")
            try BackwardPass.queueCallback { log.append("end of backward") }
        }
        try (weight * weight).sum().backward()
        #expect(log == ["hook", "end of backward"])
        handle.remove()
        try (weight * weight).sum().backward()
        #expect(log.count == 2)
        expectCortexError(["outside a backward pass"]) { try BackwardPass.queueCallback {} }
    }

    /// The new walk order changes nothing a model computes: gradients match finite differences.
    @Test func gradientsStillMatchFiniteDifferences() throws {
        let generator = RandomGenerator(seed: 11)
        let model = Sequential(Linear(3, 4, generator: generator), Tanh(), Linear(4, 1, generator: generator))
        let x = try Tensor.randn([5, 3], generator: generator)
        let weight = model.parameters()[0]
        try model(x).square().sum().backward()
        let analytic = try weight.grad!.toFloatArray()
        var values = try weight.toFloatArray()
        for index in [0, 5, 11] {
            let original = values[index]
            func loss(_ value: Float) throws -> Float {
                values[index] = value
                try withNoGrad { try weight.copy(from: Tensor(values, shape: weight.shape)) }
                return try withNoGrad { try model(x).square().sum().item() }
            }
            let numeric = (try loss(original + 1e-2) - loss(original - 1e-2)) / 2e-2
            _ = try loss(original)
            #expect(Swift.abs(numeric - analytic[index]) <= 2e-2 * Swift.max(1, Swift.abs(numeric)))
        }
    }

    @Test func modelDifferencesNameTheRanksAndEntries() {
        let reference = ["0.weight [4, 3] float32 parameter", "0.bias [4] float32 parameter"]
        let other = ["0.weight [8, 3] float32 parameter", "0.bias [8] float32 parameter"]
        let message = ModelAgreement.differences([reference, reference, other])
        #expect(message.contains("rank 2 has 2 parameters and buffers (32 elements), rank 0 has 2 (16)"))
        #expect(message.contains("rank 0 has 0.weight [4, 3] float32 parameter, rank 2 has 0.weight [8, 3] float32 parameter"))
        #expect(!message.contains("rank 1 has"))
        let shorter = ModelAgreement.differences([reference, Array(reference.prefix(1))])
        #expect(shorter.contains("entry 1: rank 0 has 0.bias [4] float32 parameter, rank 1 has nothing"))
    }

    @Test func singleProcessDataParallelIsThePlainModel() throws {
        let model = Sequential(Linear(3, 2, generator: RandomGenerator(seed: 1)))
        let parallel = try DistributedDataParallel(model, group: SingleProcessGroup())
        let x = try Tensor.randn([4, 3], generator: RandomGenerator(seed: 2))
        #expect(try parallel(x).toFloatArray() == model(x).toFloatArray())
        expectCortexError(["bucketCapacityMB"]) { _ = try DistributedDataParallel(model, group: SingleProcessGroup(), bucketCapacityMB: 0) }
    }

    @Test func atomicDirectoryReplacesTheWholeDirectory() throws {
        let root = temporaryDirectory("cortex-atomic-directory")
        let target = root + "/checkpoint"
        try AtomicDirectory.write(to: target) { staging in
            try Data("one".utf8).write(to: URL(fileURLWithPath: staging + "/a.txt"))
            try Data("old".utf8).write(to: URL(fileURLWithPath: staging + "/stale.txt"))
        }
        try AtomicDirectory.write(to: target) { staging in try Data("two".utf8).write(to: URL(fileURLWithPath: staging + "/a.txt")) }
        #expect(try String(contentsOfFile: target + "/a.txt", encoding: .utf8) == "two")
        #expect(!FileManager.default.fileExists(atPath: target + "/stale.txt"))
        // A failed write leaves the old directory, and no staging directory behind.
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) { try AtomicDirectory.write(to: target) { _ in throw Interrupted() } }
        #expect(try String(contentsOfFile: target + "/a.txt", encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["checkpoint"])
        // A directory holding files it does not own is written into, never replaced.
        let shared = root + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: shared + "/notes.txt"))
        try AtomicDirectory.write(to: shared, owning: ["a.txt"]) { staging in try Data("three".utf8).write(to: URL(fileURLWithPath: staging + "/a.txt")) }
        #expect(try String(contentsOfFile: shared + "/notes.txt", encoding: .utf8) == "mine")
        #expect(try String(contentsOfFile: shared + "/a.txt", encoding: .utf8) == "three")
        try FileManager.default.removeItem(atPath: shared)
        // A directory a killed fallback left aside comes back.
        try FileManager.default.moveItem(atPath: target, toPath: root + "/.checkpoint.previous")
        try AtomicDirectory.recover(target)
        #expect(try String(contentsOfFile: target + "/a.txt", encoding: .utf8) == "two")
    }
}
