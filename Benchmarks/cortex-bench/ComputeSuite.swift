import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import Foundation

/// FLOPs counted by the ops against the analytic figures: GPT-2 124M's training step per token
/// against PaLM's 6N + 12·L·H·Q·T (the goal: within 2%), each MNIST CNN layer against the
/// convolution and linear formulas, and the MFU of each run against the machine's probed peak.
struct ComputeSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compute", abstract: "Counted FLOPs against the analytic formulas; MFU.")

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "GPT-2's training sequence length.") var sequence = 1024

    func run() throws {
        var rows: [BenchmarkRow] = []
        let peak = PeakThroughput.cached()
        // GPT-2 124M, random weights, one training step of one sequence.
        let model = GPT(GPTConfiguration(vocabularySize: 50257, contextLength: 1024, embeddingSize: 768, layers: 12, heads: 12, dropout: 0),
                        generator: RandomGenerator(seed: 1))
        let ids = try Tensor(integers: (0..<sequence).map { ($0 * 7919) % 50257 }, shape: [1, sequence])
        let targets = try Tensor(integers: (0..<sequence).map { ($0 * 104_729 + 1) % 50257 }, shape: [1, sequence])
        let started = Date()
        let (_, counted) = try FLOPCounter.counting {
            try Loss.crossEntropy(model(ids).reshape([sequence, 50257]), targets: targets.reshape([sequence])).backward()
        }
        let seconds = Date().timeIntervalSince(started)
        let perToken = counted.total / Double(sequence), analytic = model.analyticTrainingFLOPsPerToken(sequenceLength: sequence)
        rows.append(BenchmarkRow(name: "gpt2_124m_train_flops_per_token", cortex: perToken, reference: analytic, unit: "FLOPs"))
        rows.append(BenchmarkRow(name: "gpt2_124m_counted_over_analytic", cortex: perToken / analytic, reference: 1, unit: "x"))
        rows.append(BenchmarkRow(name: "gpt2_124m_matmul_flops_per_token", cortex: counted[.matmul] / Double(sequence), reference: analytic, unit: "FLOPs"))
        rows.append(BenchmarkRow(name: "gpt2_124m_train_gflops_per_sec", cortex: counted.total / seconds / 1e9, reference: peak.map { $0.flops / 1e9 },
                                 unit: "GFLOP/s"))
        if let peak { rows.append(BenchmarkRow(name: "gpt2_124m_train_mfu", cortex: counted.total / seconds / peak.flops, reference: nil, unit: "fraction")) }
        // The MNIST CNN's layers, forward at batch 64, against the formulas.
        let batch = 64
        let cnn = Classifiers.mnistCNN(generator: RandomGenerator(seed: 2))
        let (layers, _) = try cnn.flopsPerLayer(input: Tensor.zeros([batch, 1, 28, 28]))
        var side = 28
        for layer in layers {
            let module = try cnn.submodule(named: layer.name)
            var formula: Double?
            if let conv = module as? Conv2d {
                let out = (side + 2 * conv.padding.0 - conv.kernelSize.0) / conv.stride.0 + 1
                formula = Double(batch) * (2 * Double(conv.outChannels * conv.inChannels * conv.kernelSize.0 * conv.kernelSize.1 * out * out)
                                           + Double(conv.outChannels * out * out))
                side = out
            } else if let linear = module as? Linear {
                formula = Double(batch) * Double(2 * linear.inFeatures * linear.outFeatures + linear.outFeatures)
            } else if module is MaxPool2d {
                side /= 2
            }
            rows.append(BenchmarkRow(name: "mnist_cnn_\(layer.name)_\(layer.type.lowercased())_flops", cortex: layer.count.total, reference: formula, unit: "FLOPs"))
        }
        let notes = ["Reference column: the analytic figure (PaLM appendix B for GPT-2, with N = all parameters but the position embedding, as nanoGPT; "
                     + "2·N·O·C·kh·kw·OH·OW + N·O·OH·OW for a convolution, 2·N·in·out + N·out for a linear layer); for GFLOP/s, the machine's probed peak.",
                     "GPT-2: one forward and backward of \(sequence) tokens, random weights, \(CPUParallelism.threadCount) threads, \(String(format: "%.1f", seconds)) s; "
                     + "counted FLOPs include the element-wise work (layer norms, GELU, softmax, residuals, the loss) the formula leaves out.",
                     "Peak: \(peak?.source ?? "unknown")"]
        BenchmarkReport.print(rows, json: options.json, notes: notes, peer: "analytic")
    }
}
