import CortexCore
import CortexData
import CortexModels
import CortexNN

/// The image-classifier recipes' checkpoints (`cortex train --out`): the recipe's model, loaded
/// from DIR/model.safetensors in float or, where `cortex quantize --to int8` wrote it, in int8;
/// pruned ones (weight_orig and weight_mask) with their masks, and shrunk ones (`cortex prune
/// --method structured`) with their smaller layers.
enum ClassifierCheckpoint {
    static let recipes = ["mnist-mlp", "mnist-cnn", "fashion-cnn", "lenet-300-100"]
    static let description = recipes.joined(separator: ", ") + ", or a perceptron's widths such as 784-800-800-10"

    /// The widths of a perceptron spelled "784-800-800-10" (at least an input and an output).
    static func perceptronWidths(_ text: String) -> [Int]? {
        let widths = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard widths.count >= 2, widths.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return widths.map { $0! }
    }

    /// The recipe's untrained model and its dataset's name. `recipe` may also be a perceptron's
    /// widths (an MNIST-sized model, on `dataset`).
    static func model(_ recipe: String, operation: String, dataset: String = "mnist", generator: RandomGenerator = .default) throws
        -> (model: Sequential, dataset: String) {
        switch recipe {
        case "mnist-mlp": return (Classifiers.mnistMLP(generator: generator), "mnist")
        case "mnist-cnn": return (Classifiers.mnistCNN(generator: generator), "mnist")
        case "fashion-cnn": return (Classifiers.mnistCNN(dropout: 0.25, generator: generator), "fashion-mnist")
        case "lenet-300-100": return (Classifiers.lenet300100(generator: generator), "mnist")
        default:
            if let widths = perceptronWidths(recipe), widths.first == 784 { return (Classifiers.perceptron(widths, generator: generator), dataset) }
            throw CortexError.invalidArgument(operation: operation, reason: "unknown recipe \"\(recipe)\" (\(description))")
        }
    }

    static func weightsPath(_ checkpoint: String) -> String { checkpoint + "/model.safetensors" }

    /// The recipe whose model a checkpoint holds, read from its parameter shapes: a
    /// convolutional one is mnist-cnn's (possibly shrunk), a chain of Linear layers a perceptron.
    static func inferredRecipe(_ checkpoint: String, operation: String) throws -> String {
        let path = weightsPath(checkpoint)
        let tensors = try Safetensors.load(path).tensors
        func weight(_ index: Int) -> Tensor? { tensors["\(index).weight"] ?? tensors["\(index).weight_orig"] }
        if weight(0)?.rank == 4 { return "mnist-cnn" }
        var widths: [Int] = []
        var index = 1
        while let matrix = weight(index), matrix.rank == 2 {
            if widths.isEmpty { widths.append(matrix.shape[1]) }
            widths.append(matrix.shape[0])
            index += 2
        }
        guard widths.count >= 2 else {
            throw CortexError.invalidFile(path: path, reason: "\(operation): holds neither a convolutional recipe model nor a perceptron")
        }
        return widths.map(String.init).joined(separator: "-")
    }

    /// The trained model, in evaluation mode.
    static func load(_ recipe: String, checkpoint: String, operation: String, dataset: String = "mnist") throws -> (model: Sequential, dataset: String) {
        var (model, dataset) = try model(recipe, operation: operation, dataset: dataset)
        let path = weightsPath(checkpoint)
        if Int8Quantization.isInt8Checkpoint(path) {
            try Int8Quantization.load(model, from: path)
        } else {
            let file = try Safetensors.load(path)
            model = ChannelShrinking.resized(model, toMatch: file.tensors)
            do { try model.loadStateDict(file.tensors) } catch let CortexError.invalidArgument(operation, reason) {
                throw CortexError.invalidFile(path: path, reason: "\(operation): \(reason)")
            }
        }
        model.eval()
        return (model, dataset)
    }

    /// Static calibration for `model`: its forward pass over `batches` batches of 100 training
    /// images (shuffled, seed 0), never the test set.
    static func calibration(_ model: Sequential, dataset: String, batches: Int, dataDirectory: String?) throws -> () throws -> Void {
        let loader = try DataLoader(split(dataset, .train, dataDirectory: dataDirectory), batchSize: 100, shuffle: true, seed: 0)
        let prefix = try loader.epoch(0).prefix(batches)
        return { try prefix.forEachBatch { _ = try model($0.inputs) } }
    }

    static func split(_ dataset: String, _ split: MNIST.Split, dataDirectory: String?) throws -> TensorDataset {
        let directory = try DataDirectory.locate(dataset, explicit: dataDirectory, systemLocations: [DataDirectory.debianFashionMNIST])
        return try MNIST.load(directory: directory, split: split)
    }
}
