import Foundation
import Testing
import CortexCore
@testable import CortexNN
import CortexTestSupport

final class Block: Module, Layer, @unchecked Sendable {
    let projection = Linear(4, 4, generator: RandomGenerator(seed: 1))
    let norm = LayerNorm(4)
    func forward(_ x: Tensor) throws -> Tensor { try norm(projection(x).relu()) }
}

final class Network: Module, Layer, @unchecked Sendable {
    @Buffer var runningMean = try! Tensor.zeros([4])
    let blocks = [Block(), Block()]
    let head = Sequential(Linear(4, 3, generator: RandomGenerator(seed: 2)), Dropout(0.5))
    func forward(_ x: Tensor) throws -> Tensor { try head(blocks.reduce(x) { try $1($0) }) }
}

@Suite struct ModuleTests {
    @Test func parametersAreNamedAsPyTorchWouldName() {
        let network = Network()
        #expect(network.namedParameters().map(\.0) == [
            "blocks.0.projection.weight", "blocks.0.projection.bias", "blocks.0.norm.weight", "blocks.0.norm.bias",
            "blocks.1.projection.weight", "blocks.1.projection.bias", "blocks.1.norm.weight", "blocks.1.norm.bias",
            "head.0.weight", "head.0.bias",
        ])
        #expect(network.namedBuffers().map(\.0) == ["running_mean"])
        #expect(network.parameterCount() == 2 * (16 + 4 + 4 + 4) + 12 + 3)
        #expect(network.stateDict().count == 11)
        #expect(network.summary.contains("Total parameters: 71"))
    }

    @Test func stateDictRoundTripsThroughSafetensors() throws {
        let path = NSTemporaryDirectory() + "cortex-module-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = Network(), target = Network()
        try withNoGrad { try source.blocks[0].norm.weight!.copy(from: Tensor.full([4], value: 3)) }
        try source.save(to: path)
        try target.loadStateDict(from: path)
        for ((name, a), (_, b)) in zip(source.stateDict().sorted { $0.key < $1.key }, target.stateDict().sorted { $0.key < $1.key }) {
            #expect(try a.toFloatArray() == b.toFloatArray(), "\(name)")
        }
    }

    @Test func mismatchedStateDictsNameEveryProblem() throws {
        let network = Network()
        var state = network.stateDict()
        state["head.0.weight"] = try Tensor.zeros([2, 4])
        state.removeValue(forKey: "blocks.1.norm.bias")
        state["extra.weight"] = try Tensor.zeros([1])
        do {
            try network.loadStateDict(state)
            Issue.record("expected an error")
        } catch let error as CortexError {
            let message = error.description
            #expect(message.contains("missing keys: blocks.1.norm.bias"))
            #expect(message.contains("unexpected keys: extra.weight"))
            #expect(message.contains("head.0.weight has shape [2, 4] in the state dict but [3, 4] in the model"))
        }
        // Non-strict loading skips unknown and missing keys but still checks shapes.
        state["head.0.weight"] = try Tensor.zeros([3, 4])
        try network.loadStateDict(state, strict: false)
        #expect(try network.head.namedParameters()[0].1.abs().sum().item() == 0)
    }

    @Test func trainAndEvalSwitchDropout() throws {
        let dropout = Dropout(0.3, generator: RandomGenerator(seed: 5))
        let x = try Tensor.ones([200_000])
        let trained = try dropout(x).toFloatArray()
        let kept = Float(trained.filter { $0 != 0 }.count) / Float(trained.count)
        #expect(Swift.abs(kept - 0.7) < 0.005)                      // keep rate
        #expect(trained.filter { $0 != 0 }.allSatisfy { Swift.abs($0 - 1 / 0.7) < 1e-6 })   // scaling
        #expect(Swift.abs(trained.reduce(0, +) / Float(trained.count) - 1) < 0.01) // expectation preserved
        dropout.eval()
        #expect(try dropout(x).toFloatArray() == x.toFloatArray())
        let network = Network()
        network.eval()
        #expect(network.namedModules().allSatisfy { !$0.1.isTraining })
        network.train()
        #expect(network.namedModules().allSatisfy { $0.1.isTraining })
    }

    @Test func frozenParametersAreSkippedAndResume() throws {
        let layer = Linear(3, 2, generator: RandomGenerator(seed: 3))
        let optimizer = SGD(layer.parameters(), learningRate: 0.1)
        let x = try Tensor.ones([4, 3]), y = try Tensor.zeros([4, 2])
        layer.freeze()
        #expect(layer.parameterCount(trainableOnly: true) == 0)
        let before = try layer.weight.toFloatArray()
        let frozenLoss = try Loss.mse(layer(x), y)
        #expect(!frozenLoss.requiresGrad)          // nothing to differentiate, as in PyTorch
        try optimizer.step()
        #expect(try layer.weight.toFloatArray() == before)
        layer.unfreeze()
        try Loss.mse(layer(x), y).backward()
        try optimizer.step()
        #expect(try layer.weight.toFloatArray() != before)
    }

    @Test func gradientClipping() throws {
        let a = try Tensor([3, 0]).requiringGrad(), b = try Tensor([0, 4]).requiringGrad()
        try (a * a * 0.5 + b * b * 0.5).sum().backward()     // gradients (3, 0) and (0, 4): norm 5
        let norm = try GradientClipping.clipNorm([a, b], maxNorm: 1)
        #expect(Swift.abs(norm - 5) < 1e-5)
        #expect(try closenessFailure(a.grad!, Tensor([0.6, 0]), rtol: 1e-5, atol: 1e-6) == nil)
        try GradientClipping.clipValue([a, b], value: 0.5)
        #expect(try b.grad!.toFloatArray() == [0, 0.5])
    }

    @Test func optimizerStateResumesExactly() throws {
        func makeModel() -> Linear { Linear(4, 2, generator: RandomGenerator(seed: 8)) }
        let x = try Tensor.randn([16, 4], generator: RandomGenerator(seed: 9)), y = try Tensor.randn([16, 2], generator: RandomGenerator(seed: 10))
        func train(_ model: Linear, _ optimizer: Optimizer, steps: Int) throws {
            for _ in 0..<steps {
                optimizer.zeroGrad()
                try Loss.mse(model(x), y).backward()
                try optimizer.step()
            }
        }
        let straight = makeModel()
        try train(straight, Adam(straight.parameters(), learningRate: 0.05), steps: 6)

        let first = makeModel()
        let firstOptimizer = Adam(first.parameters(), learningRate: 0.05)
        try train(first, firstOptimizer, steps: 3)
        let (tensors, metadata) = try firstOptimizer.stateDict()
        let resumed = makeModel()
        try resumed.loadStateDict(first.stateDict())
        let resumedOptimizer = Adam(resumed.parameters(), learningRate: 0.05)
        try resumedOptimizer.loadStateDict(tensors: tensors, metadata: metadata)
        try train(resumed, resumedOptimizer, steps: 3)
        #expect(try resumed.weight.toFloatArray() == straight.weight.toFloatArray())

        #expect(throws: CortexError.self) { try SGD(resumed.parameters(), learningRate: 1).loadStateDict(tensors: tensors, metadata: metadata) }
    }

    /// Issue 3's first recipe in miniature: a 2-2-1 sigmoid network learns XOR.
    @Test func xorLearnsTheTruthTable() throws {
        let model = Sequential(Linear(2, 2, generator: RandomGenerator(seed: 0)), Sigmoid(),
                               Linear(2, 1, generator: RandomGenerator(seed: 1)), Sigmoid())
        let x = try Tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), y = try Tensor([[0], [1], [1], [0]])
        let optimizer = SGD(model.parameters(), learningRate: 2, momentum: 0.9)
        for _ in 0..<2000 {
            optimizer.zeroGrad()
            try Loss.binaryCrossEntropy(model(x), y).backward()
            try optimizer.step()
        }
        let predictions = try model(x).toFloatArray().map { $0 > 0.5 ? Float(1) : 0 }
        #expect(predictions == [0, 1, 1, 0])
    }
}
