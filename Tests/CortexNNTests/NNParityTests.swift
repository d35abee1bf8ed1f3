import Foundation
import Testing
import CortexCore
@testable import CortexNN
import CortexTestSupport

enum NNFixtures {
    static let file: Safetensors.File = {
        let url = Bundle.module.url(forResource: "nn", withExtension: "safetensors", subdirectory: "Fixtures")!
        return try! Safetensors.load(url.path)
    }()

    static func cases(_ kind: String) -> [String] {
        (file.metadata[kind] ?? "").split(separator: ",").map(String.init)
    }

    /// `prefix.param.*` as a state dict.
    static func parameters(_ name: String) -> [String: Tensor] {
        let prefix = "\(name).param."
        return Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.key.hasPrefix(prefix) }
            .map { (String($0.key.dropFirst(prefix.count)), $0.value) })
    }
}

/// The Swift side of each layer case in Tools/make_nn_fixtures.py.
let layerCases: [String: @Sendable () -> Module & Layer] = [
    "linear": { Linear(5, 3) },
    "linear_nobias_3d": { Linear(5, 2, bias: false) },
    "conv2d": { Conv2d(3, 4, kernelSize: 3) },
    "conv2d_options": { Conv2d(4, 6, kernelSize: (3, 2), stride: (2, 1), padding: (1, 2), dilation: (1, 2), groups: 2) },
    "conv2d_nobias": { Conv2d(2, 3, kernelSize: 1, bias: false) },
    "layer_norm": { LayerNorm(6) },
    "layer_norm_2d": { LayerNorm([3, 4]) },
    "sequential": { Sequential(Linear(6, 8), ReLU(), Linear(8, 3), LogSoftmax(axis: -1)) },
    "batch_norm_1d": { BatchNorm1d(4) },
    "batch_norm_1d_sequence": { BatchNorm1d(3, momentum: 0.3) },
    "batch_norm_2d": { BatchNorm2d(3) },
    "batch_norm_2d_cumulative": { BatchNorm2d(2, momentum: nil, affine: false) },
    "batch_norm_2d_eval": { let layer = BatchNorm2d(3); layer.eval(); return layer },
    "group_norm": { GroupNorm(groups: 2, channels: 6) },
    "conv1d": { Conv1d(4, 6, kernelSize: 3, stride: 2, padding: 1, dilation: 2, groups: 2) },
    "max_pool_2d": { MaxPool2d(2) },
    "max_pool_2d_options": { MaxPool2d(kernelSize: (3, 2), stride: (2, 1), padding: (1, 1)) },
    "avg_pool_2d": { AvgPool2d(3, stride: 2, padding: 1) },
    "adaptive_avg_pool_2d": { AdaptiveAvgPool2d(outputSize: (3, 2)) },
    "adaptive_avg_pool_2d_divisible": { AdaptiveAvgPool2d(2) },
]

final class EmbeddingLayer: Module, Layer, @unchecked Sendable {
    let embedding = Embedding(7, 4)
    func forward(_ ids: Tensor) throws -> Tensor { try embedding(ids) }
    override func namedChildren() -> [(String, Module)] { [] }
    override func ownSlots() -> [(String, TensorSlot)] { embedding.ownSlots() }
}

@Suite struct NNParityTests {
    @Test func everyFixtureCaseHasASwiftCase() {
        #expect(Set(NNFixtures.cases("layers")) == Set(layerCases.keys).union(["embedding"]))
    }

    @Test(arguments: NNFixtures.cases("layers"))
    func layerMatchesPyTorch(_ name: String) throws {
        let file = NNFixtures.file
        let model: Module & Layer = name == "embedding" ? EmbeddingLayer() : layerCases[name]!()
        try model.loadStateDict(NNFixtures.parameters(name))
        let rawInput = try file.tensor("\(name).input")
        let input = rawInput.dtype == .float32 ? try rawInput.requiringGrad() : rawInput
        let output = try model(input)
        let failure = try closenessFailure(output, file.tensor("\(name).output"))
        #expect(failure == nil, "\(name) forward: \(failure ?? "")")
        try (output * file.tensor("\(name).seed")).sum().backward()
        if let expected = file.tensors["\(name).grad.input"] {
            #expect(try closenessFailure(input.grad!, expected) == nil, "\(name) input gradient")
        }
        for (key, parameter) in model.namedParameters() {
            let failure = try closenessFailure(parameter.grad!, file.tensor("\(name).grad.\(key)"))
            #expect(failure == nil, "\(name) gradient of \(key): \(failure ?? "")")
        }
        for (key, buffer) in model.namedBuffers() {
            let failure = try closenessFailure(buffer.to(.float32), file.tensor("\(name).after.\(key)").to(.float32))
            #expect(failure == nil, "\(name) buffer \(key) after forward: \(failure ?? "")")
        }
    }

    static let lossNames = ["mse", "mse_sum", "l1", "huber", "huber_none", "cross_entropy", "cross_entropy_weighted", "cross_entropy_ignore", "cross_entropy_smoothing", "cross_entropy_smoothing_weighted", "cross_entropy_none", "cross_entropy_probabilities", "cross_entropy_spatial", "nll", "bce", "bce_weighted", "bce_with_logits", "bce_with_logits_pos_weight", "kl_div", "kl_div_mean", "kl_div_log_target"]

    /// Mirrors the loss cases of Tools/make_nn_fixtures.py.
    static func loss(_ name: String, _ input: Tensor, _ target: Tensor, _ extras: [String: Tensor]) throws -> Tensor {
        switch name {
        case "mse": return try Loss.mse(input, target)
        case "mse_sum": return try Loss.mse(input, target, reduction: .sum)
        case "l1": return try Loss.l1(input, target)
        case "huber": return try Loss.huber(input, target, delta: 0.7)
        case "huber_none": return try Loss.huber(input, target, reduction: .none)
        case "cross_entropy": return try Loss.crossEntropy(input, targets: target)
        case "cross_entropy_weighted": return try Loss.crossEntropy(input, targets: target, weight: extras["weight"])
        case "cross_entropy_ignore": return try Loss.crossEntropy(input, targets: target)
        case "cross_entropy_smoothing": return try Loss.crossEntropy(input, targets: target, labelSmoothing: 0.2)
        case "cross_entropy_smoothing_weighted": return try Loss.crossEntropy(input, targets: target, weight: extras["weight"], labelSmoothing: 0.1)
        case "cross_entropy_none": return try Loss.crossEntropy(input, targets: target, reduction: .none)
        case "cross_entropy_probabilities": return try Loss.crossEntropy(input, targets: target, labelSmoothing: 0.1)
        case "cross_entropy_spatial": return try Loss.crossEntropy(input, targets: target)
        case "nll": return try Loss.nll(input, targets: target, weight: extras["weight"])
        case "bce": return try Loss.binaryCrossEntropy(input, target)
        case "bce_weighted": return try Loss.binaryCrossEntropy(input, target, weight: extras["weight"])
        case "bce_with_logits": return try Loss.binaryCrossEntropyWithLogits(input, target)
        case "bce_with_logits_pos_weight": return try Loss.binaryCrossEntropyWithLogits(input, target, positiveWeight: extras["pos_weight"])
        case "kl_div": return try Loss.klDivergence(input, target, reduction: .batchMean)
        case "kl_div_mean": return try Loss.klDivergence(input, target, reduction: .mean)
        case "kl_div_log_target": return try Loss.klDivergence(input, target, reduction: .sum, logTarget: true)
        default: throw CortexError.invalidArgument(operation: "loss case", reason: "no Swift case for \(name)")
        }
    }

    @Test func everyLossCaseHasASwiftCase() {
        #expect(Set(NNFixtures.cases("losses")) == Set(NNParityTests.lossNames))
    }

    @Test(arguments: NNFixtures.cases("losses"))
    func lossMatchesPyTorch(_ name: String) throws {
        let file = NNFixtures.file
        let input = try file.tensor("\(name).input").requiringGrad()
        let extras = Dictionary(uniqueKeysWithValues: ["weight", "pos_weight"].compactMap { key in
            file.tensors["\(name).\(key)"].map { (key, $0) }
        })
        let loss = try NNParityTests.loss(name, input, file.tensor("\(name).target"), extras)
        let failure = try closenessFailure(loss, file.tensor("\(name).output"))
        #expect(failure == nil, "\(name) value: \(failure ?? "")")
        if let seed = file.tensors["\(name).seed"] { try (loss * seed).sum().backward() } else { try loss.backward() }
        let gradientFailure = try closenessFailure(input.grad!, file.tensor("\(name).grad.input"))
        #expect(gradientFailure == nil, "\(name) gradient: \(gradientFailure ?? "")")
    }

    /// Mirrors the optimizer cases of Tools/make_nn_fixtures.py.
    static let optimizerCases: [String: @Sendable ([Tensor]) -> Optimizer] = [
        "sgd": { SGD($0, learningRate: 0.1) },
        "sgd_momentum": { SGD($0, learningRate: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01) },
        "sgd_nesterov": { SGD($0, learningRate: 0.05, momentum: 0.9, nesterov: true) },
        "adam": { Adam($0, learningRate: 0.01) },
        "adam_weight_decay_amsgrad": { Adam($0, learningRate: 0.01, weightDecay: 0.1, amsgrad: true) },
        "adamw": { AdamW($0, learningRate: 0.01, weightDecay: 0.1) },
        "rmsprop": { RMSprop($0, learningRate: 0.01) },
        "rmsprop_centered_momentum": { RMSprop($0, learningRate: 0.01, weightDecay: 0.01, momentum: 0.5, centered: true) },
        "adagrad": { Adagrad($0, learningRate: 0.1, learningRateDecay: 0.01, weightDecay: 0.01, initialAccumulatorValue: 0.1) },
    ]

    @Test(arguments: NNFixtures.cases("optimizers"))
    func optimizerMatchesTorchOptimAfterFiveSteps(_ name: String) throws {
        let file = NNFixtures.file
        let model = Linear(4, 3)
        try model.loadStateDict(["weight": file.tensor("optimizer.initial.weight"), "bias": file.tensor("optimizer.initial.bias")])
        let optimizer = NNParityTests.optimizerCases[name]!(model.parameters())
        let x = try file.tensor("optimizer.x"), y = try file.tensor("optimizer.y")
        for _ in 0..<5 {
            optimizer.zeroGrad()
            try Loss.mse(model(x), y).backward()
            try optimizer.step()
        }
        #expect(try closenessFailure(model.weight, file.tensor("optimizer.\(name).weight"), rtol: 1e-5, atol: 1e-5) == nil, "\(name) weight")
        #expect(try closenessFailure(model.bias!, file.tensor("optimizer.\(name).bias"), rtol: 1e-5, atol: 1e-5) == nil, "\(name) bias")
    }

    /// The same five steps through the composed (unfused) update: a weight stored transposed
    /// is not contiguous, so SGD and Adam fall back to ordinary ops for it.
    @Test(arguments: NNFixtures.cases("optimizers"))
    func unfusedOptimizerPathMatchesTorchOptim(_ name: String) throws {
        let file = NNFixtures.file
        let weight = try file.tensor("optimizer.initial.weight").mT.contiguous().mT.requiringGrad()  // a copy: steps write in place
        let bias = try file.tensor("optimizer.initial.bias").clone().requiringGrad()
        #expect(!weight.layout.isContiguous)
        let optimizer = NNParityTests.optimizerCases[name]!([weight, bias])
        let x = try file.tensor("optimizer.x"), y = try file.tensor("optimizer.y")
        for _ in 0..<5 {
            optimizer.zeroGrad()
            try Loss.mse(x.matmul(weight.mT) + bias, y).backward()
            try optimizer.step()
        }
        #expect(try closenessFailure(weight, file.tensor("optimizer.\(name).weight"), rtol: 1e-5, atol: 1e-5) == nil, "\(name) weight")
        #expect(try closenessFailure(bias, file.tensor("optimizer.\(name).bias"), rtol: 1e-5, atol: 1e-5) == nil, "\(name) bias")
    }
}
