import ArgumentParser
import CortexCore
import CortexPrivacy
import Foundation

/// `cortex privacy`: the ε that DP-SGD spends, or the noise multiplier a budget needs, from the
/// RDP accountant (as TensorFlow Privacy's `compute_dp_sgd_privacy` and Opacus's
/// `get_noise_multiplier`).
struct PrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract: "Privacy spent by DP-SGD (ε), or the noise multiplier for a target ε.",
        discussion: """
            cortex privacy --sample-rate 0.004267 --noise-multiplier 1.1 --steps 9380 --delta 1e-5
            cortex privacy --sample-rate 0.004267 --target-epsilon 3 --epochs 40 --delta 1e-5
            """)

    @Option(name: .customLong("sample-rate"), help: "q: the probability of each example joining a batch (batch size / dataset size).")
    var sampleRate: Double
    @Option(name: .customLong("noise-multiplier"), help: "σ: the noise's standard deviation over the clipping bound.") var noiseMultiplier: Double?
    @Option(name: .customLong("target-epsilon"), help: "Print the σ that spends this ε instead (Opacus's get_noise_multiplier).")
    var targetEpsilon: Double?
    @Option(help: "Steps of DP-SGD.") var steps: Int?
    @Option(help: "Epochs instead of steps: Int(epochs / sample rate) steps.") var epochs: Double?
    @Option(help: "δ of (ε, δ).") var delta: Double = 1e-5
    @Option(name: .customLong("epsilon-tolerance"), help: "--target-epsilon: how far below the target the search may stop.")
    var tolerance: Double = 0.01
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard (noiseMultiplier == nil) != (targetEpsilon == nil) else {
            throw ValidationError("give either --noise-multiplier (to get ε) or --target-epsilon (to get σ)")
        }
        guard (steps == nil) != (epochs == nil) else { throw ValidationError("give either --steps or --epochs") }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive, got \(steps)") }
        if let epochs, !(epochs > 0) { throw ValidationError("--epochs must be positive, got \(epochs)") }
        do {
            try RDPAccountant.validate(epsilon: targetEpsilon, delta: delta, sampleRate: sampleRate, noiseMultiplier: noiseMultiplier)
        } catch let error as CortexError { throw ValidationError(error.description) }
    }

    func run() throws {
        let stepCount = steps ?? Int(epochs! / sampleRate)
        let sigma = try noiseMultiplier ?? RDPAccountant.noiseMultiplier(targetEpsilon: targetEpsilon!, targetDelta: delta, sampleRate: sampleRate,
                                                                       steps: stepCount, tolerance: tolerance)
        var accountant = RDPAccountant()
        accountant.step(noiseMultiplier: sigma, sampleRate: sampleRate, count: stepCount)
        let (epsilon, order) = try accountant.privacySpent(delta: delta)
        if json {
            print(RecipeResult(fields: [("epsilon", epsilon), ("order", order), ("noise_multiplier", sigma)]
                               + (targetEpsilon.map { [("target_epsilon", $0)] } ?? [])
                               + [("delta", delta), ("sample_rate", sampleRate), ("steps", stepCount)]).json)
        } else if let targetEpsilon {
            print(String(format: "noise multiplier σ = %.6g spends ε = %.4f (target %.4g, optimal RDP order %.3g) at δ = %.3g over %d steps at q = %.6g",
                         sigma, epsilon, targetEpsilon, order, delta, stepCount, sampleRate))
        } else {
            print(String(format: "ε = %.4f at δ = %.3g (optimal RDP order %.3g) for %d steps at q = %.6g with σ = %.6g",
                         epsilon, delta, order, stepCount, sampleRate, sigma))
        }
    }
}
