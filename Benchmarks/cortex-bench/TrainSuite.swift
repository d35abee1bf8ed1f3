import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import Foundation

/// Training throughput: full steps (forward, loss, backward, optimizer) on MNIST-shaped
/// batches of 64, the MLP with SGD and the CNN with Adam, in samples per second.
struct TrainSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Training steps per second of the MNIST MLP and CNN.")

    @OptionGroup var options: BenchmarkOptions

    func run() throws {
        let reference = PyTorchReference.run(suite: "train", repetitions: options.repetitions)
        var rows: [BenchmarkRow] = []
        let generator = RandomGenerator(seed: 0)
        let batch = 64
        let images = try Tensor.rand([batch, 1, 28, 28], generator: generator)
        let labels = try Tensor(integers: (0..<batch).map { $0 % 10 })

        func measure(_ name: String, model: Sequential, optimizer: Optimizer, steps: Int) throws {
            guard options.includes(name) else { return }
            func step() throws {
                optimizer.zeroGrad()
                try Loss.crossEntropy(model(images), targets: labels).backward()
                try optimizer.step()
            }
            for _ in 0..<3 { try step() }
            let seconds = try medianSeconds(repetitions: max(options.repetitions / 3, 3)) {
                for _ in 0..<steps { try step() }
            }
            rows.append(BenchmarkRow(name: name, cortex: Double(steps * batch) / seconds, reference: reference.figures[name], unit: "samples/s"))
        }
        let mlp = Classifiers.mnistMLP(generator: generator)
        try measure("mlp_sgd_b64", model: mlp, optimizer: SGD(mlp.parameters(), learningRate: 0.01), steps: 200)
        let cnn = Classifiers.mnistCNN(generator: generator)
        try measure("cnn_adam_b64", model: cnn, optimizer: Adam(cnn.parameters(), learningRate: 1e-3), steps: 10)
        BenchmarkReport.print(rows, json: options.json, notes: [reference.note, "Synthetic MNIST-shaped batches of 64; \(CPUParallelism.threadCount) threads."])
    }
}
