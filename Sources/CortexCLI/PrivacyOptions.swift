import CortexCore
import CortexData
import CortexNN
import CortexPrivacy
import Foundation

/// The DP-SGD settings of `cortex train --dp-epsilon ... | mnist-dp`.
struct PrivacyOptions {
    /// mnist-dp's defaults: ε 3 at δ 1e-5 over 15 epochs (σ ≈ 1.0 spends it), C = 1, Poisson
    /// batches of about 1017 examples (--batch-size 1024: q = 1/59), SGD with momentum 0.9 at
    /// learning rate 0.5 under the recipes' cosine decay. Tried at the same ε: 10 epochs of
    /// 512 at 0.3 gave 97.59%, 10 of 1024 at 0.5 97.60%, 15 of 1024 at 0.5 97.79%, and 40 of
    /// 512 at 0.4 (σ 1.12) only 96.2%.
    static let mnistEpochs = 15
    static let mnistBatchSize = 1024
    static let sgdLearningRate: Float = 0.5

    var targetEpsilon: Double? = 3
    var delta = 1e-5
    var maxGradNorm = 1.0
    var noiseMultiplier: Double? = nil

    /// Typed errors for values outside their ranges (before any data is read).
    func validate() throws {
        try RDPAccountant.validate(epsilon: targetEpsilon, delta: delta, noiseMultiplier: noiseMultiplier, maxGradNorm: maxGradNorm)
        guard targetEpsilon != nil || noiseMultiplier != nil else {
            throw CortexError.invalidArgument(operation: "cortex train", reason: "private training needs --dp-epsilon or --noise-multiplier")
        }
    }

    /// The engine for `model` trained on `loader` (Poisson batches) for `epochs`: σ given, or
    /// the one that spends ε in `epochs` epochs.
    /// Resuming (`resume`, a checkpoint directory), σ is the checkpoint's unless given: the
    /// run goes on with the noise it was accounted with.
    func engine(model: Module, loader: DataLoader, epochs: Int, seed: UInt64, resume: String? = nil) throws -> PrivateTraining {
        try validate()
        guard let rate = loader.poissonSampleRate else {
            throw CortexError.invalidArgument(operation: "cortex train", reason: "private training needs Poisson batches")
        }
        let sigma = try noiseMultiplier ?? resume.flatMap(PrivacyOptions.savedNoiseMultiplier) ?? RDPAccountant.noiseMultiplier(targetEpsilon: targetEpsilon!, targetDelta: delta, sampleRate: rate,
                                                                       steps: epochs * loader.batchCount)
        return try PrivateTraining(model: model, sampleRate: rate, noiseMultiplier: sigma, maxGradNorm: maxGradNorm, delta: delta,
                                   expectedBatchSize: max(Int(Double(loader.exampleCount) * rate), 1), targetEpsilon: targetEpsilon,
                                   generator: RandomGenerator(seed: seed &+ 0xD1FF_E4E7))
    }

    /// The noise multiplier a checkpoint's private run used, if it was one.
    static func savedNoiseMultiplier(_ directory: String) -> Double? {
        struct Saved: Decodable { struct Privacy: Decodable { let noiseMultiplier: Double }; let privacy: Privacy? }
        guard let data = FileManager.default.contents(atPath: directory + "/trainer.json") else { return nil }
        return (try? JSONDecoder().decode(Saved.self, from: data))?.privacy?.noiseMultiplier
    }

    func describe(_ engine: PrivateTraining, epochs: Int) -> String {
        let budget = targetEpsilon.map { String(format: "ε ≤ %.3g", $0) } ?? "no ε budget"
        return String(format: "DP-SGD: sample rate q = %.6g (expected batch %d), noise multiplier σ = %.4f, clipping C = %.3g, δ = %.3g, %@ over %d epochs",
                      engine.sampleRate, engine.expectedBatchSize, engine.noiseMultiplier, engine.maxGradNorm, delta, budget, epochs)
    }
}
