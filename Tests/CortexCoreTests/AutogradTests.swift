import Testing
@testable import CortexCore
import CortexTestSupport

@Suite struct AutogradTests {
    @Test func gradientsAccumulateAcrossBackwardCalls() throws {
        let x = try Tensor([1, 2, 3]).requiringGrad()
        try (x * x).sum().backward()
        try (x * 3).sum().backward()
        // 2x + 3
        #expect(try x.grad!.toFloatArray() == [5, 7, 9])
        x.setGrad(nil)
        #expect(x.grad == nil)
    }

    @Test func backwardFromNonScalarWithSeed() throws {
        let x = try Tensor([1, 2, 3]).requiringGrad()
        let y = try x * x
        try y.backward(Tensor([1, 0.5, 2]))
        #expect(try x.grad!.toFloatArray() == [2, 2, 12])
    }

    @Test func reusedInputsSumTheirGradients() throws {
        let x = try Tensor([2]).requiringGrad()
        let y = try x * x * x + x     // 3x^2 + 1 = 13
        try y.sum().backward()
        #expect(try x.grad!.toFloatArray() == [13])
    }

    @Test func detachAndNoGradStopRecording() throws {
        let x = try Tensor([1, 2]).requiringGrad()
        let detached = try x.detach() * 2
        #expect(!detached.requiresGrad)
        let inside = try withNoGrad { try x * 2 }
        #expect(!inside.requiresGrad && GradMode.isEnabled)
        let y = try (x * x.detach()).sum()
        try y.backward()
        #expect(try x.grad!.toFloatArray() == [1, 2])
    }

    @Test func leavesNonLeavesAndRetainedGradients() throws {
        let x = try Tensor([1, 2]).requiringGrad()
        let hidden = try x * 3
        hidden.retainGrad()
        #expect(x.isLeaf && !hidden.isLeaf && hidden.gradientFunctionName == "affine")
        try hidden.square().sum().backward()
        #expect(try hidden.grad!.toFloatArray() == [6, 12])
        #expect(try x.grad!.toFloatArray() == [18, 36])
    }

    @Test func leafGradientsOwnTheirStorage() throws {
        // add passes one gradient to both inputs; each leaf must get its own copy.
        let a = try Tensor([1, 2]).requiringGrad(), b = try Tensor([3, 4]).requiringGrad()
        try (a + b).sum().backward()
        try withNoGrad { try a.grad!.multiplyInPlace(10) }
        #expect(try b.grad!.toFloatArray() == [1, 1])
    }

    @Test func gradientCheckerCatchesAWrongGradient() throws {
        // A function whose recorded gradient is deliberately wrong (detach drops a term).
        let wrong: ([Tensor]) throws -> Tensor = { x in try x[0] * x[0].detach() }
        let mismatches = try GradientCheck.check(wrong, inputs: [Tensor([1, 2, 3])])
        #expect(mismatches.count == 3)
        let right = try GradientCheck.check({ try $0[0] * $0[0] }, inputs: [Tensor([1, 2, 3])])
        #expect(right.isEmpty)
    }

    @Test func tensorsCrossTasks() async throws {
        let weight = try Tensor.randn([8, 8], generator: RandomGenerator(seed: 3))
        let sums = try await withThrowingTaskGroup(of: Float.self) { group in
            for index in 0..<4 {
                group.addTask { try weight.matmul(Tensor.full([8, 1], value: Double(index))).sum().item() }
            }
            return try await group.reduce(0, +)
        }
        let expected = try weight.sum().item() * 6
        #expect(Swift.abs(sums - expected) < 1e-3)
    }

    /// README's example: gradient descent recovers known linear coefficients.
    @Test func readmeLinearRegressionRecoversCoefficients() throws {
        let generator = RandomGenerator(seed: 0)
        let x = try Tensor.randn([64, 3], generator: generator)
        let trueWeight = try Tensor([[2], [-1], [0.5]])
        let y = try x.matmul(trueWeight) + 0.1
        let weight = try Tensor.zeros([3, 1]).requiringGrad()
        let bias = try Tensor.zeros([1]).requiringGrad()
        for _ in 0..<200 {
            let loss = try (x.matmul(weight) + bias - y).square().mean()
            try loss.backward()
            try withNoGrad {
                try weight.addInPlace(weight.grad!, alpha: -0.1)
                try bias.addInPlace(bias.grad!, alpha: -0.1)
            }
            weight.setGrad(nil)
            bias.setGrad(nil)
        }
        let learned = try weight.toFloatArray()
        #expect(zip(learned, [2, -1, 0.5] as [Float]).allSatisfy { Swift.abs($0 - $1) < 1e-3 })
        #expect(Swift.abs(try bias.item() - 0.1) < 1e-3)
    }
}
