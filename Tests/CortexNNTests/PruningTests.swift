import CortexCore
@testable import CortexNN
import CortexTestSupport
import Foundation
import Testing

/// Pruning against torch.nn.utils.prune (Tools/make_pruning_fixtures.py): the same entries
/// pruned, ties included; masks kept as weight_orig and weight_mask and applied in training.
@Suite struct PruningTests {
    static let fixtures: [String: Tensor] = {
        let url = Bundle.module.url(forResource: "pruning", withExtension: "safetensors", subdirectory: "Fixtures")!
        return try! Safetensors.load(url.path).tensors
    }()

    static func linear(_ weight: Tensor) throws -> Linear { try Linear(weight: weight.contiguous(), bias: Tensor.zeros([weight.shape[0]])) }

    static func conv(_ weight: Tensor) -> Conv2d {
        let layer = Conv2d(weight.shape[1], weight.shape[0], kernelSize: (weight.shape[2], weight.shape[3]))
        try! withNoGrad { try layer.weight.copy(from: weight) }
        return layer
    }

    static func expectMask(_ module: Module, _ name: String, _ fixture: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let want = try fixtures[fixture + ".mask"]!.toFloatArray()
        let got = try #require(module.pruningMask(name), sourceLocation: sourceLocation).toFloatArray()
        let differing = zip(got, want).filter { $0 != $1 }.count
        #expect(differing == 0, "\(fixture): \(differing) of \(want.count) entries differ from torch's mask", sourceLocation: sourceLocation)
    }

    @Test(arguments: [("l1_nth", PruningAmount.fraction(0.3)), ("l1_partial", 0.01), ("l1_count", 50), ("l1_continuous", 0.77),
                      ("l1_all", 1.0), ("l1_none", 0.0)])
    func l1UnstructuredChoosesTorchsEntries(_ fixture: String, _ amount: PruningAmount) throws {
        let layer = try Self.linear(Self.fixtures[fixture + ".input"]!)
        try Pruning.l1Unstructured(layer, name: "weight", amount: amount)
        try Self.expectMask(layer, "weight", fixture)
    }

    @Test func pruningAgainPrunesAmongWhatIsLeft() throws {
        let layer = try Self.linear(Self.fixtures["l1_twice.input"]!)
        try Pruning.l1Unstructured(layer, name: "weight", amount: 0.5)
        try Pruning.l1Unstructured(layer, name: "weight", amount: 0.5)
        try Self.expectMask(layer, "weight", "l1_twice")
        #expect(try Pruning.sparsity(of: layer).weightSparsity == 0.75)

        let mixed = try Self.linear(Self.fixtures["l1_then_ln.input"]!)
        try Pruning.l1Unstructured(mixed, name: "weight", amount: 0.4)
        try Pruning.lnStructured(mixed, name: "weight", amount: 0.5, n: 2, dim: 0)
        try Self.expectMask(mixed, "weight", "l1_then_ln")
    }

    @Test func globalUnstructuredRanksAllLayersTogether() throws {
        let layers: [Module] = [try Self.linear(Self.fixtures["global.0.input"]!), try Self.linear(Self.fixtures["global.1.input"]!),
                                Self.conv(Self.fixtures["global.2.input"]!)]
        try Pruning.globalUnstructured(layers.map { ($0, "weight") }, amount: 0.6)
        for (index, layer) in layers.enumerated() { try Self.expectMask(layer, "weight", "global.\(index)") }
    }

    @Test(arguments: [("ln_l2_dim0", PruningAmount.fraction(0.5), 2.0, 0), ("ln_l1_dim1", 2, 1.0, 1), ("ln_inf_dim0", 0.3, .infinity, 0)])
    func lnStructuredChoosesTorchsChannels(_ fixture: String, _ amount: PruningAmount, _ n: Double, _ dim: Int) throws {
        let layer = Self.conv(Self.fixtures[fixture + ".input"]!)
        try Pruning.lnStructured(layer, name: "weight", amount: amount, n: n, dim: dim)
        try Self.expectMask(layer, "weight", fixture)
    }

    /// selection of the k smallest among many ties walks libstdc++'s steps, for every k.
    @Test func selectionMatchesSortingWithoutTies() throws {
        let generator = RandomGenerator(seed: 5)
        let values = generator.uniformFloats(300).map(Double.init)
        for k in [1, 4, 5, 150, 299, 300] {
            let chosen = Set(TorchSelection.topK(values, k: k, largest: false))
            let sorted = Set(values.enumerated().sorted { $0.element < $1.element }.prefix(k).map(\.offset))
            #expect(chosen == sorted, "k = \(k)")
        }
    }

    @Test func maskedParametersStayZeroWhileTraining() throws {
        let generator = RandomGenerator(seed: 2)
        let model = Sequential(Linear(8, 6, generator: generator), ReLU(), Linear(6, 3, generator: generator))
        try Pruning.globalUnstructured(Pruning.weights(of: model), amount: 0.5)
        #expect(Set(model.stateDict().keys) == ["0.weight_orig", "0.weight_mask", "0.bias", "2.weight_orig", "2.weight_mask", "2.bias"])
        #expect(Set(model.namedParameters().map(\.0)) == ["0.weight_orig", "0.bias", "2.weight_orig", "2.bias"])
        let optimizer = SGD(model.parameters(), learningRate: 0.1, momentum: 0.9)
        let x = try Tensor.randn([16, 8], generator: generator), y = try Tensor.randn([16, 3], generator: generator)
        for _ in 0..<5 {
            optimizer.zeroGrad()
            try Loss.mse(model(x), y).backward()
            try optimizer.step()
        }
        let report = try Pruning.sparsity(of: model)
        #expect(report.weightZeros == (48 + 18) / 2)
        let before = try model(x).toFloatArray()
        let first = model.layers[0] as! Linear
        try Pruning.remove(first, name: "weight")
        #expect(first.prunedParameterNames.isEmpty)
        #expect(try first.weight.toFloatArray().filter { $0 == 0 }.count == report.rows[0].zeros)
        #expect(try model(x).toFloatArray() == before)
        #expect(model.stateDict().keys.contains("0.weight"))
    }

    /// A state dict torch wrote for a pruned model loads into a fresh one and computes as torch did.
    @Test func torchsPrunedCheckpointLoads() throws {
        let state = Dictionary(uniqueKeysWithValues: Self.fixtures.compactMap { key, value in
            key.hasPrefix("loaded.state.") ? (String(key.dropFirst("loaded.state.".count)), value) : nil
        })
        let model = Sequential(Linear(6, 5), ReLU(), Linear(5, 3))
        try model.loadStateDict(state)
        #expect((model.layers[2] as! Linear).prunedParameterNames == ["bias", "weight"])
        let output = try model(Self.fixtures["loaded.input"]!)
        #expect(try closenessFailure(output, Self.fixtures["loaded.output"]!) == nil)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pruned-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        #expect(Set(try Safetensors.load(path).tensors.keys) == Set(state.keys))
    }

    /// Quantising a pruned model folds its masks first: the int8 weights keep the zeros.
    @Test func int8QuantisationFoldsTheMasks() throws {
        let model = Sequential(Linear(16, 8, generator: RandomGenerator(seed: 3)), ReLU(), Linear(8, 4, generator: RandomGenerator(seed: 4)))
        try Pruning.globalUnstructured(Pruning.weights(of: model), amount: 0.5)
        try Int8Quantization.quantize(model)
        #expect(!Pruning.isPruned(model))
        let state = try Int8Quantization.stateDict(model)
        #expect(state["0.weight"]?.dtype == .int8 && state["0.weight_orig"] == nil)
        let codes = try state["0.weight"]!.to(.float32).toFloatArray() + state["2.weight"]!.to(.float32).toFloatArray()
        #expect(codes.filter { $0 == 0 }.count >= (16 * 8 + 8 * 4) / 2)
    }

    @Test func badInputNamesTheValue() throws {
        let layer = Linear(4, 3)
        expectCortexError(["amount=1.5"]) { try Pruning.l1Unstructured(layer, name: "weight", amount: 1.5) }
        expectCortexError(["amount=-0.1"]) { try Pruning.l1Unstructured(layer, name: "weight", amount: -0.1) }
        expectCortexError(["amount=13", "12"]) { try Pruning.l1Unstructured(layer, name: "weight", amount: 13) }
        expectCortexError(["\"weights\"", "weight, bias"]) { try Pruning.l1Unstructured(layer, name: "weights", amount: 0.5) }
        expectCortexError(["ReLU", "not prunable"]) { try Pruning.l1Unstructured(ReLU(), name: "weight", amount: 0.5) }
        expectCortexError(["not pruned"]) { try Pruning.remove(layer, name: "weight") }
        expectCortexError(["axis 2"]) { try Pruning.lnStructured(layer, name: "weight", amount: 0.5, n: 2, dim: 2) }
        #expect(!Pruning.isPruned(layer))
    }
}

/// Structured shrinking and the compact sparse save.
@Suite struct ChannelShrinkingTests {
    static func cnn() -> Sequential {
        let generator = RandomGenerator(seed: 4)
        return Sequential(Conv2d(1, 8, kernelSize: 3, padding: 1, generator: generator), BatchNorm2d(8), ReLU(), MaxPool2d(2),
                          Conv2d(8, 6, kernelSize: 3, padding: 1, generator: generator), ReLU(), MaxPool2d(2),
                          Flatten(), Linear(6 * 2 * 2, 5, generator: generator), ReLU(), Linear(5, 3, generator: generator))
    }

    /// Removing channels equals zeroing them with ln_structured's mask: the smaller model
    /// computes what the masked one does.
    @Test func shrunkModelComputesWhatTheMaskedOneDoes() throws {
        let model = Self.cnn()
        model.eval()
        let x = try Tensor.randn([2, 1, 8, 8], generator: RandomGenerator(seed: 5))
        let (smaller, changes) = try ChannelShrinking.shrink(model, amount: 0.5, n: 1)
        #expect(changes == [.init(layer: 0, before: 8, after: 4), .init(layer: 4, before: 6, after: 3)])
        #expect((smaller.layers[1] as! BatchNorm2d).numFeatures == 4)
        #expect((smaller.layers[8] as! Linear).inFeatures == 12)
        // The masked equivalent: zero those filters, their BatchNorm outputs (bias 0 at init) and the next layer sees zeros.
        for index in [0, 4] { try Pruning.lnStructured(model.layers[index], name: "weight", amount: 0.5, n: 1, dim: 0) }
        for index in [0, 4] { try Pruning.l1Unstructured(model.layers[index], name: "bias", amount: .count(0)) }
        for index in [0, 4] {
            let layer = model.layers[index] as! Conv2d
            let rows = try layer.pruningMask("weight")!.reshape([layer.outChannels, -1]).sum(axes: [1]).toFloatArray().map { $0 > 0 ? Float(1) : 0 }
            try layer.setBiasMaskForTest(rows)
        }
        #expect(try closenessFailure(smaller(x), model(x), rtol: 1e-4, atol: 1e-5) == nil)
        #expect(smaller.parameterCount() < model.parameterCount())
        expectCortexError(["layer 10", "outputs"]) { _ = try ChannelShrinking.shrink(model, amount: 0.5, targets: [10]) }
        expectCortexError(["all 8 channels"]) { _ = try ChannelShrinking.shrink(Self.cnn(), amount: 1.0, targets: [0]) }
    }

    @Test func resizedModelLoadsAShrunkCheckpoint() throws {
        let (smaller, _) = try ChannelShrinking.shrink(Self.cnn(), amount: 0.5)
        let fresh = ChannelShrinking.resized(Self.cnn(), toMatch: smaller.stateDict())
        try fresh.loadStateDict(smaller.stateDict())
        #expect(fresh.parameterCount() == smaller.parameterCount())
    }

    @Test func sparseSaveFollowsTheSparsity() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sparse-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let generator = RandomGenerator(seed: 6)
        let model = Sequential(Flatten(), Linear(784, 300, generator: generator), ReLU(), Linear(300, 100, generator: generator), ReLU(),
                               Linear(100, 10, generator: generator))
        let dense = directory + "/dense.safetensors"
        try model.save(to: dense)
        try Pruning.globalUnstructured(Pruning.weights(of: model), amount: 0.92)
        let bytes = try SparseCheckpoint.save(model, to: directory + "/sparse.safetensors")
        let denseBytes = try FileManager.default.attributesOfItem(atPath: dense)[.size] as! Int
        // 8% of the weights at 4 bytes plus one bit per weight: about 0.445 bytes per weight of the 4 dense.
        #expect(Double(bytes) < 0.13 * Double(denseBytes), "\(bytes) of \(denseBytes)")
        let fresh = Sequential(Flatten(), Linear(784, 300), ReLU(), Linear(300, 100), ReLU(), Linear(100, 10))
        try SparseCheckpoint.load(into: fresh, from: directory + "/sparse.safetensors", keepingMasks: true)
        let x = try Tensor.randn([3, 784], generator: generator)
        #expect(try fresh(x).toFloatArray() == model(x).toFloatArray())
        #expect(try Pruning.sparsity(of: fresh).weightZeros == Pruning.sparsity(of: model).weightZeros)
        #expect(Pruning.isPruned(fresh))
        expectCortexError(["not a sparse checkpoint"]) { _ = try SparseCheckpoint.load(dense) }
    }
}

extension Conv2d {
    /// Sets the bias mask (test support: zero the biases of removed filters).
    func setBiasMaskForTest(_ rows: [Float]) throws { setPruningMask("bias", try Tensor(rows, shape: [rows.count])) }
}
