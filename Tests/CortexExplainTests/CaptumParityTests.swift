import CortexCore
import CortexExplain
import CortexNN
import CortexTestSupport
import Foundation
import Testing

/// Captum's attributions on small models (Tools/make_explain_fixtures.py), matched at rtol 1e-4.
@Suite struct CaptumParityTests {
    static let fixtures: [String: Tensor] = {
        let url = Bundle.module.url(forResource: "captum", withExtension: "safetensors", subdirectory: "Fixtures")!
        return try! Safetensors.load(url.path).tensors
    }()

    static func fixture(_ name: String) -> Tensor { fixtures[name]! }

    static func model<M: Module>(_ model: M, _ prefix: String) throws -> M {
        let state = fixtures.filter { $0.key.hasPrefix(prefix + ".weights.") }
        try model.loadStateDict(Dictionary(uniqueKeysWithValues: state.map { (String($0.key.dropFirst(prefix.count + 9)), $0.value) }))
        model.eval()
        return model
    }

    static func expectClose(_ actual: Tensor, _ name: String, rtol: Float = 1e-4, atol: Float = 1e-6,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let failure = try closenessFailure(actual, fixture(name), rtol: rtol, atol: atol)
        #expect(failure == nil, "\(name): \(failure ?? "")", sourceLocation: sourceLocation)
    }

    static func targets(_ name: String) throws -> AttributionTarget { .each(try fixture(name).toIntArray()) }

    static func mlp() throws -> Sequential { try model(Sequential(Linear(6, 8), ReLU(), Linear(8, 3)), "mlp") }

    static func cnn() throws -> Sequential {
        try model(Sequential(Conv2d(1, 4, kernelSize: 3, padding: 1), ReLU(), MaxPool2d(2), Conv2d(4, 6, kernelSize: 3, padding: 1), ReLU(),
                             Flatten(), Linear(96, 3)), "cnn")
    }

    @Test func saliencyAndInputXGradient() throws {
        let model = try Self.mlp(), x = Self.fixture("mlp.input"), target = try Self.targets("mlp.target")
        try Self.expectClose(Saliency(model).attribute(x, target: target), "mlp.saliency")
        try Self.expectClose(Saliency(model).attribute(x, target: target, abs: false), "mlp.saliency_signed")
        try Self.expectClose(InputXGradient(model).attribute(x, target: target), "mlp.input_x_gradient")
        // The model's parameters are left without gradients.
        #expect(model.parameters().allSatisfy { $0.grad == nil && $0.requiresGrad })
    }

    @Test(arguments: IntegrationMethod.allCases)
    func integratedGradients(method: IntegrationMethod) throws {
        let model = try Self.mlp()
        let result = try IntegratedGradients(model).attribute(Self.fixture("mlp.input"), baselines: Self.fixture("mlp.baseline"),
                                                              target: Self.targets("mlp.target"), steps: 20, method: method)
        try Self.expectClose(result.attributions, "mlp.ig.\(method.rawValue)")
        try Self.expectClose(Tensor(result.delta), "mlp.ig.\(method.rawValue).delta", rtol: 1e-3, atol: 2e-6)
    }

    @Test func integratedGradientsInInternalBatches() throws {
        let model = try Self.cnn()
        let ig = IntegratedGradients(model)
        let whole = try ig.attribute(Self.fixture("cnn.input"), target: Self.targets("cnn.target"), steps: 16)
        try Self.expectClose(whole.attributions, "cnn.ig")
        try Self.expectClose(Tensor(whole.delta), "cnn.ig.delta", rtol: 1e-3, atol: 2e-6)
        let chunked = try ig.attribute(Self.fixture("cnn.input"), target: Self.targets("cnn.target"), steps: 16, internalBatchSize: 6)
        try Self.expectClose(chunked.attributions, "cnn.ig")
    }

    @Test func occlusion() throws {
        try Self.expectClose(Occlusion(Self.mlp()).attribute(Self.fixture("mlp.input"), slidingWindow: [2], strides: [1],
                                                             target: Self.targets("mlp.target")), "mlp.occlusion")
        for perPass in [1, 5, 64] {
            try Self.expectClose(Occlusion(Self.cnn()).attribute(Self.fixture("cnn.input"), slidingWindow: [1, 3, 3], strides: [1, 2, 2],
                                                                 target: Self.targets("cnn.target"), perturbationsPerEvaluation: perPass),
                                 "cnn.occlusion")
        }
    }

    @Test func layerGradCam() throws {
        let model = try Self.cnn(), x = Self.fixture("cnn.input"), target = try Self.targets("cnn.target")
        let cam = try LayerGradCam(model, layer: model.submodule(named: "3")).attribute(x, target: target)
        try Self.expectClose(cam, "cnn.gradcam")
        try Self.expectClose(LayerGradCam(model, layer: model.submodule(named: "3")).attribute(x, target: target, reluAttributions: true),
                             "cnn.gradcam_relu")
        try Self.expectClose(LayerGradCam(model, layer: model.submodule(named: "4")).attribute(x, target: target), "cnn.gradcam_layer4")
        try Self.expectClose(LayerAttribution.interpolate(cam, to: [8, 8]), "cnn.gradcam_nearest")
        try Self.expectClose(LayerAttribution.interpolate(cam, to: [8, 8], mode: .bilinear), "cnn.gradcam_bilinear")
        // The hook is gone afterwards.
        #expect(try !model.submodule(named: "3").hasForwardHooks)
    }

    final class EmbeddingModel: Module, Layer, @unchecked Sendable {
        let embedding = Embedding(20, 5)
        let head = Linear(5, 3)
        func forward(_ ids: Tensor) throws -> Tensor { try head(embedding(ids).mean(axes: [1])) }
    }

    @Test(arguments: [IntegrationMethod.gaussLegendre, .riemannRight])
    func layerIntegratedGradientsThroughTheEmbedding(method: IntegrationMethod) throws {
        let model = try Self.model(EmbeddingModel(), "embed")
        let ids = Self.fixture("embed.input")
        let result = try LayerIntegratedGradients(ExplainedFunction(model), layer: model.embedding)
            .attribute(ids, baselines: Tensor.zeros(ids.shape, dtype: ids.dtype), target: Self.targets("embed.target"), steps: 16, method: method)
        try Self.expectClose(result.attributions, "embed.lig.\(method.rawValue)")
        try Self.expectClose(Tensor(result.delta), "embed.lig.\(method.rawValue).delta", rtol: 1e-3, atol: 2e-6)
        #expect(try LayerIntegratedGradients.perToken(result.attributions).shape == [3, 6])
    }

    @Test func gaussLegendreMatchesNumpy() throws {
        // numpy.polynomial.legendre.leggauss(3): nodes ±sqrt(3/5), 0; weights 5/9, 8/9, 5/9.
        let (steps, alphas) = try IntegrationMethod.gaussLegendre.stepsAndAlphas(3)
        let node = (3.0 / 5).squareRoot()
        for (got, want) in zip(alphas, [0.5 * (1 - node), 0.5, 0.5 * (1 + node)]) { #expect(abs(got - want) < 1e-14) }
        for (got, want) in zip(steps, [5.0 / 18, 8.0 / 18, 5.0 / 18]) { #expect(abs(got - want) < 1e-14) }
        let (many, _) = try IntegrationMethod.gaussLegendre.stepsAndAlphas(64)
        #expect(abs(many.reduce(0, +) - 1) < 1e-12)
    }
}
