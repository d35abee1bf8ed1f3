import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import CortexPrivacy
import Foundation

/// DP-SGD beside Opacus in the same run: training steps on Opacus's MNIST example network
/// (SampleConvNet, ReLU) at batch 256, private (per-sample gradients, clipping at 1, noise 1)
/// and not, with SGD and momentum 0.9. The goals: DP-SGD at least 1.5x Opacus's samples/s, and
/// at least half of Cortex's own non-private training of the same network.
struct PrivacySuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "privacy", abstract: "DP-SGD samples/s beside Opacus.")

    @OptionGroup var options: BenchmarkOptions

    static let batch = 256

    func run() throws {
        let reference = PyTorchReference.run(suite: "privacy", repetitions: options.repetitions)
        let images = try Tensor.randn([Self.batch, 1, 28, 28], generator: RandomGenerator(seed: 1))
        let labels = try Tensor(integers: (0..<Self.batch).map { $0 % 10 })
        var speeds: [String: Double] = [:]
        for name in ["non_private", "dp_sgd"] {
            let model = Classifiers.privateMNIST(tanh: false, generator: RandomGenerator(seed: 0))
            let optimizer = SGD(model.parameters(), learningRate: 0.1, momentum: 0.9)
            let privacy = name == "dp_sgd"
                ? try PrivateTraining(model: model, sampleRate: Double(Self.batch) / 60_000, noiseMultiplier: 1, maxGradNorm: 1, delta: 1e-5,
                                      expectedBatchSize: Self.batch)
                : nil
            func step() throws {
                optimizer.zeroGrad()
                try Loss.crossEntropy(model(images), targets: labels).backward()
                try privacy?.privatizeGradients()
                try optimizer.step()
                privacy?.recordStep()
            }
            try step()
            speeds[name] = Double(Self.batch) / (try medianSeconds(repetitions: options.repetitions) { try step() })
        }
        var rows: [BenchmarkRow] = []
        for name in ["non_private", "dp_sgd"] {
            rows.append(BenchmarkRow(name: "mnist_\(name)_samples_per_sec", cortex: speeds[name]!,
                                     reference: reference.figures["mnist_\(name)_samples_per_sec"], unit: "samples/s"))
        }
        rows.append(BenchmarkRow(name: "mnist_dp_over_non_private", cortex: speeds["dp_sgd"]! / speeds["non_private"]!,
                                 reference: reference.figures["mnist_dp_over_non_private"], unit: "x"))
        let notes = [reference.note, "Opacus's SampleConvNet (26,010 parameters) at batch \(Self.batch), \(CPUParallelism.threadCount) threads, "
                     + "one training step per repetition (forward, backward, per-sample clipping to 1 and noise 1 for DP-SGD, SGD with momentum 0.9); "
                     + "the reference is Opacus's GradSampleModule and DPOptimizer (hooks mode) on the same network."]
        BenchmarkReport.print(rows, json: options.json, notes: notes, peer: "opacus")
    }
}
