import CortexCore
import CortexNN
import CortexTestSupport
import Foundation
import Testing

/// Hinton et al.'s distillation loss against PyTorch (Tools/make_distillation_fixtures.py):
/// value and gradient for classifier and per-token logits, and finite differences.
@Suite struct DistillationLossTests {
    static let fixtures: [String: Tensor] = {
        let url = Bundle.module.url(forResource: "distillation", withExtension: "safetensors", subdirectory: "Fixtures")!
        return try! Safetensors.load(url.path).tensors
    }()

    @Test(arguments: ["classifier", "tokens", "soft_only"])
    func matchesPyTorch(_ name: String) throws {
        let settings = try Self.fixtures["\(name).settings"]!.toFloatArray()
        let student = try Self.fixtures["\(name).student"]!.detach().clone().requiringGrad()
        let loss = try Loss.distillation(student: student, teacher: Self.fixtures["\(name).teacher"]!, targets: Self.fixtures["\(name).targets"]!,
                                         temperature: settings[0], alpha: settings[1])
        try loss.backward()
        #expect(try closenessFailure(loss.reshape([1]), Self.fixtures["\(name).loss"]!, rtol: 1e-5, atol: 1e-5) == nil)
        #expect(try closenessFailure(#require(student.grad), Self.fixtures["\(name).gradient"]!, rtol: 1e-4, atol: 1e-6) == nil)
    }

    @Test func gradientMatchesFiniteDifferences() throws {
        let generator = RandomGenerator(seed: 3)
        let teacher = try Tensor.randn([4, 6], generator: generator), targets = try Tensor(integers: [0, 5, 2, 2])
        let mismatches = try GradientCheck.check({ try Loss.distillation(student: $0[0], teacher: teacher, targets: targets, temperature: 3, alpha: 0.7) },
                                                 inputs: [Tensor.randn([4, 6], generator: generator)])
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    @Test func badInputNamesTheValues() throws {
        let student = try Tensor.zeros([2, 10]), targets = try Tensor(integers: [1, 2])
        expectCortexError(["[2, 12]", "[2, 10]"]) {
            _ = try Loss.distillation(student: student, teacher: Tensor.zeros([2, 12]), targets: targets, temperature: 2, alpha: 0.5)
        }
        expectCortexError(["temperature 0.0"]) { _ = try Loss.distillation(student: student, teacher: student, targets: targets, temperature: 0, alpha: 0.5) }
        expectCortexError(["alpha 1.5"]) { _ = try Loss.distillation(student: student, teacher: student, targets: targets, temperature: 2, alpha: 1.5) }
        expectCortexError(["hard targets"]) { _ = try Loss.distillation(student: student, teacher: student, targets: nil, temperature: 2, alpha: 0.5) }
    }
}
