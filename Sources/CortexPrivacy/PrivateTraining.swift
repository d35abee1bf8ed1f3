import CCortexKernels
import CortexCore
import CortexNN
import Foundation

/// DP-SGD (Abadi et al. 2016) with Opacus's semantics, around any optimizer: each example's
/// gradient (from ``PerSampleGradients``) is clipped to L2 norm `maxGradNorm` over all
/// parameters together, the clipped gradients are summed, Gaussian noise of standard deviation
/// σ·C is added, and the sum is divided by the expected batch size (loss reduction "mean");
/// the optimizer then steps on that. The ``RDPAccountant`` counts every step.
///
/// ```swift
/// let privacy = try PrivateTraining(model: model, sampleRate: 256.0 / 60_000, noiseMultiplier: 1.1,
///                                   maxGradNorm: 1.0, delta: 1e-5, expectedBatchSize: 256)
/// let loss = try Loss.crossEntropy(model(images), targets: labels)
/// try loss.backward()
/// try privacy.privatizeGradients()       // clipped, summed, noised, scaled into .grad
/// try optimizer.step()
/// privacy.recordStep()
/// print(try privacy.epsilon())
/// ```
///
/// The trainer does all of this when ``Trainer/privacy`` is set, with Poisson-sampled batches.
public final class PrivateTraining: @unchecked Sendable {
    public let model: Module
    public let perSample: PerSampleGradients
    /// σ: the noise's standard deviation is σ·C.
    public let noiseMultiplier: Double
    /// C, the per-example clipping bound.
    public let maxGradNorm: Double
    /// q, the probability with which each example joins a batch.
    public let sampleRate: Double
    public let delta: Double
    /// The budget: ``wouldExceedBudget`` says when one more step would pass it.
    public let targetEpsilon: Double?
    /// q · N, the divisor of the noised sum (Opacus's `expected_batch_size`).
    public let expectedBatchSize: Int
    public var accountant: RDPAccountant
    public let generator: RandomGenerator
    /// Of the examples in the last step, the fraction whose gradient was clipped.
    public private(set) var lastClippedFraction = 0.0
    private var verified = false
    /// Whether steps after the first skip the ordinary gradients that DP-SGD replaces
    /// (``PerSampleGradients/skipsOrdinaryGradients``). On by default.
    public var skipsOrdinaryGradients = true

    /// `targetEpsilon` is the budget training stops at; for the σ that spends it in a number of
    /// epochs (Opacus's `make_private_with_epsilon`), use ``RDPAccountant/noiseMultiplier(targetEpsilon:targetDelta:sampleRate:steps:epochs:tolerance:orders:)``.
    public init(model: Module, sampleRate: Double, noiseMultiplier: Double, maxGradNorm: Double, delta: Double,
                expectedBatchSize: Int, targetEpsilon: Double? = nil, lossReduction: PerSampleGradients.LossReduction = .mean,
                accountant: RDPAccountant = RDPAccountant(), generator: RandomGenerator = RandomGenerator(seed: 0x5EC0_12E)) throws {
        try RDPAccountant.validate(epsilon: targetEpsilon, delta: delta, sampleRate: sampleRate, noiseMultiplier: noiseMultiplier,
                                   maxGradNorm: maxGradNorm)
        guard expectedBatchSize > 0 else { throw PrivacyError.invalid("expected batch size", "\(expectedBatchSize) must be positive") }
        self.model = model
        self.perSample = try PerSampleGradients(model, lossReduction: lossReduction)
        self.noiseMultiplier = noiseMultiplier
        self.maxGradNorm = maxGradNorm
        self.sampleRate = sampleRate
        self.delta = delta
        self.targetEpsilon = targetEpsilon
        self.expectedBatchSize = expectedBatchSize
        self.accountant = accountant
        self.generator = generator
    }

    /// ε spent so far (for ``delta``).
    public func epsilon() throws -> Double { try epsilon(afterSteps: 0) }

    /// ε after `more` further steps at this σ and q.
    public func epsilon(afterSteps more: Int) throws -> Double {
        var projected = accountant
        if more > 0 { projected.step(noiseMultiplier: noiseMultiplier, sampleRate: sampleRate, count: more) }
        return try projected.epsilon(delta: delta)
    }

    /// Whether one more step would spend more than ``targetEpsilon``.
    public func wouldExceedBudget() throws -> Bool {
        guard let targetEpsilon else { return false }
        return try epsilon(afterSteps: 1) > targetEpsilon
    }

    /// Counts one step in the accountant.
    public func recordStep() {
        accountant.step(noiseMultiplier: noiseMultiplier, sampleRate: sampleRate)
    }

    /// Replaces the `.grad` of every trainable parameter with the private gradient of the
    /// batch just run backward: per-example clipping, sum, noise σ·C, division by the expected
    /// batch size. With no examples (an empty Poisson batch) the gradient is the noise alone.
    /// The first call checks that the per-sample gradients add up to the ordinary gradient,
    /// which catches a parameter used outside the layer that holds it (a tied output
    /// projection, say) and so missed by the per-layer rules.
    public func privatizeGradients() throws {
        let parameters = model.namedParameters().filter { $0.1.requiresGrad }
        let batch = perSample.batchSize ?? 0
        let perExample = perSample.gradients
        defer { perSample.reset() }
        try withNoGrad {
            var factors: Tensor?
            if batch > 0 {
                var squaredNorms = [Float](repeating: 0, count: batch)
                for (name, _) in parameters {
                    guard let gradient = perExample[name] else {
                        throw PrivacyError.invalid("per-sample gradients", "the parameter \"\(name)\" got none in this batch; was its layer called through its forward pass (layer(x)), and is it used in the loss?")
                    }
                    let rows = try PrivateTraining.rowSumsOfSquares(gradient, rows: batch)
                    for index in 0..<batch { squaredNorms[index] += rows[index] }
                }
                if !verified { try verifySums(parameters, perExample, batch: batch) }
                // Opacus's factor: min(1, C / (norm + 1e-6)).
                let norms = squaredNorms.map { $0.squareRoot() }
                factors = try Tensor(norms.map { min(1, Float(maxGradNorm) / ($0 + 1e-6)) }, shape: [1, batch])
                lastClippedFraction = Double(norms.filter { Double($0) > maxGradNorm }.count) / Double(batch)
            }
            let divisor = perSample.lossReduction == .mean ? Float(expectedBatchSize) : 1
            for (name, parameter) in parameters {
                var summed: Tensor
                if let factors, let gradient = perExample[name] {
                    summed = try factors.matmul(gradient.reshape([batch, -1])).reshape(parameter.shape)
                } else {
                    summed = try Tensor.zeros(parameter.shape)
                }
                if noiseMultiplier > 0 {
                    summed = try summed + Tensor.randn(parameter.shape, standardDeviation: Float(noiseMultiplier * maxGradNorm), generator: generator)
                }
                parameter.setGrad(divisor == 1 ? summed : try summed / divisor)
            }
        }
    }

    /// The sum of squares of each of the `rows` rows of `tensor` (one pass, rows in parallel).
    static func rowSumsOfSquares(_ tensor: Tensor, rows: Int) throws -> [Float] {
        let contiguous = try tensor.contiguous()
        let width = contiguous.count / max(rows, 1)
        var result = [Float](repeating: 0, count: rows)
        let source = UnsafePointer(contiguous.storage.pointer.assumingMemoryBound(to: Float.self) + contiguous.layout.offset)
        result.withUnsafeMutableBufferPointer { target in
            let pointers = RowPointers(source: source, target: target.baseAddress!)
            CPUParallelism.forEachRange(rows, grain: max(1, 32_768 / max(width, 1))) { range in
                cortex_row_sum_squares(pointers.source + range.lowerBound * width, range.count, width, pointers.target + range.lowerBound)
            }
        }
        return withExtendedLifetime(contiguous) { result }
    }

    /// Pointers the worker threads read and write while the caller waits.
    private struct RowPointers: @unchecked Sendable {
        let source: UnsafePointer<Float>
        let target: UnsafeMutablePointer<Float>
    }

    /// Σ_b of each parameter's per-sample gradients against its ordinary gradient.
    private func verifySums(_ parameters: [(String, Tensor)], _ perExample: [String: Tensor], batch: Int) throws {
        let scale = perSample.lossReduction == .mean ? Float(batch) : 1
        for (name, parameter) in parameters {
            guard let ordinary = parameter.grad, let gradient = perExample[name] else { continue }
            let (summed, expected) = (try gradient.sum(axes: [0]), try ordinary * scale)
            let difference = try (summed - expected).square().sum().item().squareRoot()
            let size = try expected.square().sum().item().squareRoot()
            guard difference <= 1e-3 * max(size, 1e-6) else {
                throw PrivacyError.invalid(
                    "per-sample gradients",
                    "those of \"\(name)\" add up to a gradient \(difference / max(size, 1e-12) * 100)% away from the ordinary one: the parameter is used outside the layer that holds it (tied weights, or a direct use in the model's forward), where per-sample gradients cannot see it")
            }
        }
        verified = true
        // Checked: from now on the ordinary gradients of the product layers are not computed.
        if skipsOrdinaryGradients, model is Layer { perSample.skipsOrdinaryGradients = true }
    }
}
