import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import Foundation

/// Compressed models beside PyTorch in the same run: the MNIST CNN's inference before and after
/// structured pruning removes half its conv channels (ChannelShrinking, L1 filter norms), and
/// the size of LeNet-300-100 at 8% of its weights saved densely, as PyTorch's weight_orig +
/// weight_mask state dict, and as Cortex's bitmask sparse checkpoint.
struct CompressSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compress", abstract: "Structured pruning speed, sparse checkpoint size.")

    @OptionGroup var options: BenchmarkOptions

    static let batch = 256

    func run() throws {
        let reference = PyTorchReference.run(suite: "compress", repetitions: options.repetitions)
        var rows: [BenchmarkRow] = []
        let dense = Classifiers.mnistCNN(generator: RandomGenerator(seed: 1))
        dense.eval()
        let (halved, _) = try ChannelShrinking.shrink(dense, amount: 0.5)
        let images = try Tensor.randn([Self.batch, 1, 28, 28], generator: RandomGenerator(seed: 2))
        var speeds: [String: Double] = [:]
        try withNoGrad {
            for (name, model) in [("dense", dense), ("channels_halved", halved)] {
                let seconds = try medianSeconds(repetitions: options.repetitions) { _ = try model(images) }
                speeds[name] = Double(Self.batch) / seconds
                rows.append(BenchmarkRow(name: "mnist_cnn_\(name)_images_per_sec", cortex: speeds[name]!,
                                         reference: reference.figures["mnist_cnn_\(name)_images_per_sec"], unit: "images/s"))
            }
        }
        rows.append(BenchmarkRow(name: "mnist_cnn_channels_halved_speedup", cortex: speeds["channels_halved"]! / speeds["dense"]!,
                                 reference: reference.figures["mnist_cnn_channels_halved_speedup"], unit: "x"))
        rows += try sizeRows()
        let notes = [reference.note, "Inference at batch \(Self.batch), eval mode, no gradients, \(CPUParallelism.threadCount) threads; "
                     + "channels_halved: conv 32/64 -> 16/32 by ChannelShrinking (the fc layer's inputs shrink with them). "
                     + "Sizes: LeNet-300-100 with 92% of its weights pruned (global L1); dense and masked files are what PyTorch's state_dict saves too."]
        BenchmarkReport.print(rows, json: options.json, notes: notes)
    }

    func sizeRows() throws -> [BenchmarkRow] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cortex-compress-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = Classifiers.lenet300100(generator: RandomGenerator(seed: 3))
        try model.save(to: directory + "/dense.safetensors")
        try Pruning.globalUnstructured(Pruning.weights(of: model), amount: 0.92)
        try model.save(to: directory + "/masked.safetensors")
        let sparse = try SparseCheckpoint.save(model, to: directory + "/sparse.safetensors")
        let denseBytes = ModelQuantization.fileBytes(directory + "/dense.safetensors")
        return [BenchmarkRow(name: "lenet_300_100_dense_bytes", cortex: Double(denseBytes), reference: nil, unit: "bytes", higherIsBetter: false),
                BenchmarkRow(name: "lenet_300_100_masked_bytes", cortex: Double(ModelQuantization.fileBytes(directory + "/masked.safetensors")),
                             reference: nil, unit: "bytes", higherIsBetter: false),
                BenchmarkRow(name: "lenet_300_100_sparse_8pct_bytes", cortex: Double(sparse), reference: nil, unit: "bytes", higherIsBetter: false),
                BenchmarkRow(name: "lenet_300_100_sparse_over_dense", cortex: Double(sparse) / Double(denseBytes), reference: nil, unit: "x",
                             higherIsBetter: false)]
    }
}
