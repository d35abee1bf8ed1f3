import ArgumentParser
import CortexCore
import CortexData
import CortexModels
import CortexNN
import Foundation

/// `cortex predict`: class probabilities from a saved image-classifier checkpoint for test-set
/// examples or for images in an IDX file.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Predict classes with a saved checkpoint.")

    @Argument(help: "mnist-mlp, mnist-cnn or fashion-cnn.") var recipe: String
    @Option(help: "Checkpoint directory written by `cortex train --out`.") var checkpoint: String
    @Option(help: "An IDX file of 28x28 images to classify (default: the test set).") var images: String?
    @Option(help: "Comma-separated example indices.") var indices = "0,1,2,3,4"
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's files.") var dataDirectory: String?
    @Flag(help: "Print one JSON object per example.") var json = false

    /// One classified example.
    struct Prediction: Equatable {
        var index: Int
        var predictedClass: Int
        var probability: Float
    }

    func run() throws {
        for prediction in try predictions() {
            let (index, best, probability) = (prediction.index, prediction.predictedClass, prediction.probability)
            if json {
                print("{\"index\": \(index), \"class\": \(best), \"probability\": \(String(format: "%.6f", probability))}")
            } else {
                print("example \(index): class \(best) (probability \(String(format: "%.4f", probability)))")
            }
        }
    }

    /// The most probable class of each requested example.
    func predictions() throws -> [Prediction] {
        let (model, dataset) = try ClassifierCheckpoint.load(recipe, checkpoint: checkpoint, operation: "cortex predict")
        let inputs: Tensor
        if let images {
            inputs = try IDX.read(images).unsqueeze(1)
        } else {
            inputs = try ClassifierCheckpoint.split(dataset, .test, dataDirectory: dataDirectory).inputs
        }
        guard inputs.rank == 4, Array(inputs.shape.dropFirst()) == [1, 28, 28] else {
            throw CortexError.shapeMismatch(operation: "cortex predict", shapes: [inputs.shape], reason: "images must be 28x28")
        }
        let wanted = try indices.split(separator: ",").map { text -> Int in
            guard let index = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw CortexError.invalidArgument(operation: "cortex predict", reason: "\"\(text)\" in --indices is not an integer")
            }
            return index
        }
        let batch = try inputs.indexSelect(axis: 0, indices: Tensor(integers: wanted))
        let values = try withNoGrad { try model(batch).softmax(axis: -1) }.toFloatArray()
        return wanted.enumerated().map { row, index in
            let scores = values[(row * 10)..<((row + 1) * 10)]
            let best = scores.indices.max { scores[$0] < scores[$1] }!
            return Prediction(index: index, predictedClass: best - row * 10, probability: scores[best])
        }
    }
}
