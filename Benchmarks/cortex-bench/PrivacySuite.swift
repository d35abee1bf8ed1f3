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
        // The two runs alternate step by step, so a change in the machine's speed during the
        // run (a shared VM's neighbours) moves both medians alike and not their ratio.
        var steps: [String: () throws -> Void] = [:]
        for name in ["non_private", "dp_sgd"] where options.includes("mnist_\(name)") {
            let model = Classifiers.privateMNIST(tanh: false, generator: RandomGenerator(seed: 0))
            let optimizer = SGD(model.parameters(), learningRate: 0.1, momentum: 0.9)
            let privacy = name == "dp_sgd"
                ? try PrivateTraining(model: model, sampleRate: Double(Self.batch) / 60_000, noiseMultiplier: 1, maxGradNorm: 1, delta: 1e-5,
                                      expectedBatchSize: Self.batch)
                : nil
            steps[name] = {
                optimizer.zeroGrad()
                try Loss.crossEntropy(model(images), targets: labels).backward()
                try privacy?.privatizeGradients()
                try optimizer.step()
                privacy?.recordStep()
            }
        }
        var seconds: [String: [Double]] = [:]
        for (_, step) in steps { try step(); try step() }   // warm-up (and DP's checked first step)
        for _ in 0..<options.repetitions {
            for name in ["non_private", "dp_sgd"] {
                guard let step = steps[name] else { continue }
                let started = DispatchTime.now().uptimeNanoseconds
                try step()
                seconds[name, default: []].append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            }
        }
        let speeds = seconds.mapValues { Double(Self.batch) / $0.sorted()[$0.count / 2] }
        var rows: [BenchmarkRow] = []
        for name in ["non_private", "dp_sgd"] where speeds[name] != nil {
            rows.append(BenchmarkRow(name: "mnist_\(name)_samples_per_sec", cortex: speeds[name]!,
                                     reference: reference.figures["mnist_\(name)_samples_per_sec"], unit: "samples/s"))
        }
        if let privateSpeed = speeds["dp_sgd"], let plain = speeds["non_private"] {
            rows.append(BenchmarkRow(name: "mnist_dp_over_non_private", cortex: privateSpeed / plain,
                                     reference: reference.figures["mnist_dp_over_non_private"], unit: "x"))
        }
        let notes = [reference.note, "Opacus's SampleConvNet (26,010 parameters) at batch \(Self.batch), \(CPUParallelism.threadCount) threads, "
                     + "the two alternating step by step, the median step of each (forward, backward, per-sample clipping to 1 and noise 1 for DP-SGD, SGD with momentum 0.9); "
                     + "the reference is Opacus's GradSampleModule and DPOptimizer (hooks mode) on the same network."]
        BenchmarkReport.print(rows, json: options.json, notes: notes, peer: "opacus")
    }
}
