import CortexCore
import CortexData
import CortexModels
import CortexNN

/// The image-classifier recipes' checkpoints (`cortex train --out`): the recipe's model, loaded
/// from DIR/model.safetensors in float or, where `cortex quantize --to int8` wrote it, in int8.
enum ClassifierCheckpoint {
    static let recipes = ["mnist-mlp", "mnist-cnn", "fashion-cnn"]

    /// The recipe's untrained model and its dataset's name.
    static func model(_ recipe: String, operation: String) throws -> (model: Sequential, dataset: String) {
        switch recipe {
        case "mnist-mlp": return (Classifiers.mnistMLP(), "mnist")
        case "mnist-cnn": return (Classifiers.mnistCNN(), "mnist")
        case "fashion-cnn": return (Classifiers.mnistCNN(dropout: 0.25), "fashion-mnist")
        default:
            throw CortexError.invalidArgument(operation: operation, reason: "unknown recipe \"\(recipe)\" (\(recipes.joined(separator: ", ")))")
        }
    }

    static func weightsPath(_ checkpoint: String) -> String { checkpoint + "/model.safetensors" }

    /// The trained model, in evaluation mode.
    static func load(_ recipe: String, checkpoint: String, operation: String) throws -> (model: Sequential, dataset: String) {
        let (model, dataset) = try model(recipe, operation: operation)
        let path = weightsPath(checkpoint)
        if Int8Quantization.isInt8Checkpoint(path) {
            try Int8Quantization.load(model, from: path)
        } else {
            try model.loadStateDict(from: path)
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
