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
