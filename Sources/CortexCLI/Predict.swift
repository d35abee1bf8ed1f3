import ArgumentParser
import CortexCore
import CortexData
import CortexModels
import CortexNN
import Foundation

/// `cortex predict`: class probabilities from a saved image-classifier checkpoint for test-set
/// examples or for images in an IDX file; for a checkpoint of `cortex train --config`, for image
/// files (PNG, JPEG) or the rows of a CSV file.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Predict classes with a saved checkpoint.")

    @Argument(help: "mnist-mlp, mnist-cnn or fashion-cnn; none for a checkpoint of `cortex train --config`.") var recipe: String?
    @Option(help: "Checkpoint directory written by `cortex train --out` (its best epoch, DIR/best, where the run kept one).") var checkpoint: String
    @Option(parsing: .upToNextOption, help: "Recipes: an IDX file of 28x28 images to classify (default: the test set). --config checkpoints: PNG or JPEG files.")
    var images: [String] = []
    @Option(help: "--config checkpoints trained on a CSV: a CSV of rows to classify.") var csv: String?
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
        if recipe == nil || ConfiguredModel.isConfigured(checkpoint) {
            for (name, label, probability) in try configuredPredictions() {
                if json {
                    let line: [String: Any] = ["input": name, "class": label, "probability": Double(probability)]
                    print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
                } else {
                    print("\(name): \(label) (probability \(String(format: "%.4f", probability)))")
                }
            }
            return
        }
        for prediction in try predictions() {
            let (index, best, probability) = (prediction.index, prediction.predictedClass, prediction.probability)
            if json {
                print("{\"index\": \(index), \"class\": \(best), \"probability\": \(String(format: "%.6f", probability))}")
            } else {
                print("example \(index): class \(best) (probability \(String(format: "%.4f", probability)))")
            }
        }
    }

    /// A configured checkpoint's most probable class name for each image file or CSV row.
    func configuredPredictions() throws -> [(String, String, Float)] {
        guard !images.isEmpty || csv != nil else {
            throw CortexError.invalidArgument(operation: "cortex predict", reason: "give image files (--images a.png b.jpg) or --csv FILE to classify")
        }
        let (directory, _) = Evaluation.chooseCheckpoint(checkpoint, last: false)
        let (model, carried, configuration) = try ConfiguredModel.load(directory)
        let (inputs, names) = try ConfiguredModel.inputs(carried, configuration, images: images, table: csv)
        return try zip(names, Predict.mostProbable(model, inputs)).map { name, best in (name, carried.classes[best.label], best.probability) }
    }

    /// Each input row's most probable class and its softmax probability.
    static func mostProbable(_ model: Module & Layer, _ inputs: Tensor) throws -> [(label: Int, probability: Float)] {
        let probabilities = try withNoGrad { try model(inputs).softmax(axis: -1) }
        let (rows, classes) = (probabilities.shape[0], probabilities.shape.last ?? 1)
        let values = try probabilities.toFloatArray()
        return (0..<rows).map { row in
            let scores = values[(row * classes)..<((row + 1) * classes)]
            let best = scores.indices.max { scores[$0] < scores[$1] }!
            return (best - row * classes, scores[best])
        }
    }

    /// The most probable class of each requested example.
    func predictions() throws -> [Prediction] {
        guard let recipe else { throw CortexError.invalidArgument(operation: "cortex predict", reason: "name the checkpoint's recipe") }
        let (model, dataset) = try ClassifierCheckpoint.load(recipe, checkpoint: checkpoint, operation: "cortex predict")
        let inputs: Tensor
        if let images = images.first {
            guard self.images.count == 1 else {
                throw CortexError.invalidArgument(operation: "cortex predict", reason: "a recipe checkpoint reads one IDX file of images, not \(self.images.count) files")
            }
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
        return try zip(wanted, Predict.mostProbable(model, batch)).map { index, best in
            Prediction(index: index, predictedClass: best.label, probability: best.probability)
        }
    }
}
