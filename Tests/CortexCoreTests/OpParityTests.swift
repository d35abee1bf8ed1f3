import Foundation
import Testing
@testable import CortexCore
import CortexTestSupport

/// Fixture parity (forward and gradients at rtol 1e-5 / atol 1e-6) and finite-difference checks
/// for every op case. Fixtures: Tools/make_op_fixtures.py, PyTorch 2.15.
enum OpFixtures {
    static let file: Safetensors.File = {
        let url = Bundle.module.url(forResource: "ops", withExtension: "safetensors", subdirectory: "Fixtures")!
        return try! Safetensors.load(url.path)
    }()

    static func inputs(_ name: String) -> [Tensor] {
        var inputs: [Tensor] = []
        while let tensor = file.tensors["\(name).input\(inputs.count)"] { inputs.append(tensor) }
        return inputs
    }
}

@Suite struct OpParityTests {
    @Test func everyFixtureCaseHasASwiftCase() throws {
        let fixtureCases = Set((OpFixtures.file.metadata["cases"] ?? "").split(separator: ",").map(String.init))
        let swiftCases = Set(opCases.map(\.name))
        #expect(fixtureCases == swiftCases, "only in fixtures: \(fixtureCases.subtracting(swiftCases)); only in Swift: \(swiftCases.subtracting(fixtureCases))")
        #expect(swiftCases.count >= 60)
    }

    @Test(arguments: opCases)
    func matchesPyTorch(_ opCase: OpCase) throws {
        let file = OpFixtures.file
        let inputs = try OpFixtures.inputs(opCase.name).map { $0.dtype == .float32 ? try $0.requiringGrad() : $0 }
        #expect(!inputs.isEmpty, "no inputs for \(opCase.name)")
        let output = try opCase.function(inputs)
        let expected = try file.tensor("\(opCase.name).output")
        if expected.dtype == .bool || expected.dtype == .int64 {
            #expect(output.shape == expected.shape)
            #expect(try output.toIntArray() == expected.toIntArray(), "\(opCase.name) values differ")
        } else {
            let failure = try closenessFailure(output, expected)
            #expect(failure == nil, "\(opCase.name) forward: \(failure ?? "")")
        }
        guard let seed = file.tensors["\(opCase.name).seed"] else { return }
        try (output * seed).sum().backward()
        for (index, input) in inputs.enumerated() {
            guard let expectedGradient = file.tensors["\(opCase.name).grad\(index)"] else { continue }
            let gradient = try input.grad ?? Tensor.zeros(input.shape)
            let failure = try closenessFailure(gradient, expectedGradient)
            #expect(failure == nil, "\(opCase.name) gradient of input \(index): \(failure ?? "")")
        }
    }

    @Test(arguments: opCases.filter(\.finiteDifferences))
    func gradientMatchesFiniteDifferences(_ opCase: OpCase) throws {
        let file = OpFixtures.file
        guard let seed = file.tensors["\(opCase.name).seed"] else { return }
        let mismatches = try GradientCheck.check(opCase.function, inputs: OpFixtures.inputs(opCase.name), seed: seed)
        #expect(mismatches.isEmpty, "\(opCase.name): \(mismatches.prefix(3))")
    }

    @Test func creationMatchesPyTorch() throws {
        let file = OpFixtures.file
        #expect(try closenessFailure(Tensor.arange(0, 5, step: 0.5), file.tensor("arange.output")) == nil)
        #expect(try closenessFailure(Tensor.linspace(-1, 1, count: 7), file.tensor("linspace.output")) == nil)
        #expect(try closenessFailure(Tensor.eye(3, 4), file.tensor("eye.output")) == nil)
    }
}
