import CortexCore
import CortexTestSupport
import Foundation
import Testing

@testable import CortexNN

/// Gradient clipping and ReduceLROnPlateau against PyTorch (Tools/make_trainer_fixtures.py).
@Suite struct ClippingAndPlateauParityTests {
    static let file: Safetensors.File = {
        let url = Bundle.module.url(forResource: "trainer", withExtension: "safetensors", subdirectory: "Fixtures")!
        return try! Safetensors.load(url.path)
    }()

    static func cases(_ kind: String) -> [String] {
        (file.metadata[kind] ?? "").split(separator: ",").map(String.init)
    }

    /// clip_grad_norm_ (norm types 1, 2, 3 and infinity, clipping or not) and clip_grad_value_:
    /// the clipped gradients within rtol 1e-5, and the total norm returned.
    @Test(arguments: cases("clip_cases"))
    func clippingMatchesTorch(_ name: String) throws {
        let file = ClippingAndPlateauParityTests.file
        let kinds = try JSONDecoder().decode([String: String].self, from: Data(file.metadata["clip_kinds"]!.utf8))
        let settings = try file.tensor("clip.\(name).settings").toFloatArray()
        let parameters = try (0..<3).map { index -> Tensor in
            let gradient = try file.tensor("clip.\(name).gradient\(index)")
            let parameter = try Tensor.zeros(gradient.shape).requiringGrad()
            try (parameter * gradient).sum().backward()     // its gradient is now `gradient`
            return parameter
        }
        if kinds[name] == "norm" {
            let type = settings[1] < 0 ? Float.infinity : settings[1]
            let total = try GradientClipping.clipNorm(parameters, maxNorm: settings[0], normType: type)
            let expected = try file.tensor("clip.\(name).total_norm").item()
            #expect(Swift.abs(total - expected) <= 1e-5 * expected, "\(name): total norm \(total), torch \(expected)")
        } else {
            try GradientClipping.clipValue(parameters, value: settings[0])
        }
        for (index, parameter) in parameters.enumerated() {
            let failure = try closenessFailure(parameter.grad!, file.tensor("clip.\(name).clipped\(index)"), rtol: 1e-5, atol: 1e-7)
            #expect(failure == nil, "\(name), gradient \(index): \(failure ?? "")")
        }
    }

    struct PlateauSettings: Decodable {
        var mode: String, factor: Float, patience: Int, threshold: Float, cooldown: Int, min_lr: Float
    }

    /// ReduceLROnPlateau's learning rate after each metric of the sequence equals PyTorch's.
    @Test(arguments: cases("plateau_cases"))
    func plateauMatchesTorch(_ name: String) throws {
        let file = ClippingAndPlateauParityTests.file
        let settings = try JSONDecoder().decode(PlateauSettings.self, from: Data(file.metadata["plateau.\(name)"]!.utf8))
        let optimizer = SGD([try Tensor.zeros([1]).requiringGrad()], learningRate: 0.1)
        let plateau = try ReduceOnPlateau(optimizer, mode: settings.mode == "min" ? .minimize : .maximize, factor: settings.factor,
                                          patience: settings.patience, threshold: settings.threshold, cooldown: settings.cooldown,
                                          minimumLearningRate: settings.min_lr)
        let rates = try file.tensor("plateau.\(name).metrics").toFloatArray().map { metric in
            plateau.step(metric: metric)
            return optimizer.learningRates[0]
        }
        let failure = try closenessFailure(Tensor(rates), file.tensor("plateau.\(name).rates"), rtol: 1e-5, atol: 1e-9)
        #expect(failure == nil, "\(name): \(rates) \(failure ?? "")")
    }
}
