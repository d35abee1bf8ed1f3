import CortexCore
import CortexNN
import CortexPrivacy
import CortexTestSupport
import Testing

/// DP-SGD's gradient: per-example clipping over all parameters together, the sum, noise σ·C,
/// division by the expected batch size (Opacus's DPOptimizer), checked against gradients of
/// each example computed alone; and the refusals of bad settings.
@Suite struct PrivateTrainingTests {
    @Test func clippedSumEqualsTheExamplesClippedOneByOne() throws {
        let generator = RandomGenerator(seed: 11)
        let model = Sequential(Linear(6, 5, generator: generator), Tanh(), Linear(5, 3, generator: generator))
        let inputs = try Tensor.randn([5, 6], standardDeviation: 3, generator: generator)
        let maxGradNorm = 0.8
        let privacy = try PrivateTraining(model: model, sampleRate: 0.1, noiseMultiplier: 0, maxGradNorm: maxGradNorm, delta: 1e-5, expectedBatchSize: 8)
        try PerSampleGradientTests.loss(model(inputs)).backward()
        try privacy.privatizeGradients()
        let privateGradients = model.namedParameters().map { $0.1.grad! }
        privacy.perSample.remove()
        // The same, one example at a time.
        var expected = model.namedParameters().map { try! Tensor.zeros($0.1.shape) }
        var clipped = 0
        for example in 0..<5 {
            for (_, parameter) in model.namedParameters() { parameter.setGrad(nil) }
            try PerSampleGradientTests.loss(model(inputs.slice(axis: 0, start: example, end: example + 1))).backward()
            let gradients = model.namedParameters().map { $0.1.grad! }
            let norm = try gradients.map { try $0.square().sum().item() }.reduce(0, +).squareRoot()
            let factor = min(1, Float(maxGradNorm) / (norm + 1e-6))
            if Double(norm) > maxGradNorm { clipped += 1 }
            expected = try zip(expected, gradients).map { try $0 + $1 * factor }
        }
        #expect(clipped >= 2, "the test should clip some examples and not others (clipped \(clipped) of 5)")
        #expect(abs(privacy.lastClippedFraction - Double(clipped) / 5) < 1e-9)
        for (got, want) in zip(privateGradients, expected) {
            if let failure = try closenessFailure(got, want / 8, rtol: 1e-4, atol: 1e-6) { Issue.record("clipped sum: \(failure)") }
        }
    }

    /// After the checked first step the product layers skip their ordinary gradients; the
    /// private gradients are the same as with them.
    @Test func skippingOrdinaryGradientsChangesNothing() throws {
        var results: [[Tensor]] = []
        for skipping in [false, true] {
            let generator = RandomGenerator(seed: 13)
            let model = Sequential(Conv2d(1, 4, kernelSize: 3, generator: generator), Tanh(), Flatten(), Linear(4 * 4 * 4, 3, generator: generator))
            let privacy = try PrivateTraining(model: model, sampleRate: 0.1, noiseMultiplier: 0, maxGradNorm: 0.5, delta: 1e-5, expectedBatchSize: 4)
            privacy.skipsOrdinaryGradients = skipping
            var gradients: [Tensor] = []
            for step in 0..<3 {
                for parameter in model.parameters() { parameter.setGrad(nil) }
                let images = try Tensor.randn([4, 1, 6, 6], generator: RandomGenerator(seed: UInt64(step)))
                try PerSampleGradientTests.loss(model(images)).backward()
                if step == 2 {
                    // The ordinary gradients were skipped on this step (and only with skipping on).
                    #expect((model.parameters()[0].grad == nil) == skipping)
                }
                try privacy.privatizeGradients()
                gradients += model.parameters().map { $0.grad! }
            }
            #expect(privacy.perSample.skipsOrdinaryGradients == skipping)
            // After a step the layers compute as usual again: a forward pass that does not go
            // through the model's call (no step begins) gives ordinary weight gradients.
            for parameter in model.parameters() { parameter.setGrad(nil) }
            try PerSampleGradientTests.loss(model.forward(Tensor.randn([2, 1, 6, 6]))).backward()
            #expect(model.parameters().allSatisfy { $0.grad != nil })
            results.append(gradients)
        }
        for (plain, skipped) in zip(results[0], results[1]) {
            if let failure = try closenessFailure(skipped, plain, rtol: 1e-5, atol: 1e-7) { Issue.record("skipping ordinary gradients: \(failure)") }
        }
    }

    @Test func noiseHasStandardDeviationSigmaTimesC() throws {
        let model = Linear(100, 100, generator: RandomGenerator(seed: 12))
        let privacy = try PrivateTraining(model: model, sampleRate: 0.01, noiseMultiplier: 1.5, maxGradNorm: 2, delta: 1e-5, expectedBatchSize: 10)
        // No examples (an empty Poisson batch): the gradient is the noise alone, divided by 10.
        try privacy.privatizeGradients()
        let values = try model.weight.grad!.toFloatArray().map(Double.init)
        let mean = values.reduce(0, +) / Double(values.count)
        let deviation = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        #expect(abs(mean) < 0.01 && abs(deviation - 0.3) < 0.01, "mean \(mean), standard deviation \(deviation) (want 1.5 * 2 / 10 = 0.3)")
        privacy.recordStep()
        let epsilon = try privacy.epsilon()
        #expect(epsilon > 0 && privacy.accountant.steps == 1)
    }

    @Test func budgetStopsBeforeItIsPassed() throws {
        let privacy = try PrivateTraining(model: Linear(2, 2), sampleRate: 0.1, noiseMultiplier: 1, maxGradNorm: 1, delta: 1e-5,
                                          expectedBatchSize: 4, targetEpsilon: 2)
        var steps = 0
        while try !privacy.wouldExceedBudget() { privacy.recordStep(); steps += 1 }
        let spent = try privacy.epsilon()
        let next = try privacy.epsilon(afterSteps: 1), accountants = try privacy.accountant.epsilon(delta: 1e-5)
        #expect(spent <= 2 && next > 2, "stopped after \(steps) steps at ε \(spent)")
        // The engine reports what its accountant says.
        #expect(abs(spent - accountants) < 1e-12)
    }

    @Test func badSettingsAreRefused() {
        let model = Linear(2, 2)
        expectCortexError(["max grad norm", "-1.0"]) {
            _ = try PrivateTraining(model: model, sampleRate: 0.1, noiseMultiplier: 1, maxGradNorm: -1, delta: 1e-5, expectedBatchSize: 4)
        }
        expectCortexError(["delta", "1.0", "(0, 1)"]) {
            _ = try PrivateTraining(model: model, sampleRate: 0.1, noiseMultiplier: 1, maxGradNorm: 1, delta: 1, expectedBatchSize: 4)
        }
        expectCortexError(["epsilon", "0.0"]) {
            _ = try PrivateTraining(model: model, sampleRate: 0.1, noiseMultiplier: 1, maxGradNorm: 1, delta: 1e-5, expectedBatchSize: 4, targetEpsilon: 0)
        }
        expectCortexError(["noise multiplier", "-0.5"]) {
            _ = try PrivateTraining(model: model, sampleRate: 0.1, noiseMultiplier: -0.5, maxGradNorm: 1, delta: 1e-5, expectedBatchSize: 4)
        }
        expectCortexError(["sample rate", "0.0"]) {
            _ = try PrivateTraining(model: model, sampleRate: 0, noiseMultiplier: 1, maxGradNorm: 1, delta: 1e-5, expectedBatchSize: 4)
        }
        expectCortexError(["BatchNorm2d", "GroupNorm"]) {
            _ = try PrivateTraining(model: Sequential(Conv2d(1, 2, kernelSize: 3), BatchNorm2d(2)), sampleRate: 0.1, noiseMultiplier: 1,
                                    maxGradNorm: 1, delta: 1e-5, expectedBatchSize: 4)
        }
    }
}
