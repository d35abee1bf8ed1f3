import CortexCore
import CortexData
import CortexModels
import CortexNN
import CortexTrain
import Foundation

/// `cortex evaluate`: loads a checkpoint into its recipe's model and measures the test set,
/// optionally quantising the model to int8 first.
enum Evaluation {
    /// How `--int8` quantises a float checkpoint before evaluating it.
    enum Int8Mode: String, CaseIterable { case dynamic, `static` }

    static func run(recipe: String, checkpoint given: String, dataDirectory: String?, int8: Int8Mode? = nil,
                    calibrationBatches: Int = 10, last: Bool = false) throws -> RecipeResult {
        let (checkpoint, chosen) = chooseCheckpoint(given, last: last)
        let (model, dataset) = try ClassifierCheckpoint.load(recipe, checkpoint: checkpoint, operation: "cortex evaluate")
        var quantization: [(String, Any)] = []
        if let int8 {
            let calibration = int8 == .static
                ? try ClassifierCheckpoint.calibration(model, dataset: dataset, batches: calibrationBatches, dataDirectory: dataDirectory) : nil
            let report = try Int8Quantization.quantize(model, calibration: calibration)
            quantization = [("int8", int8.rawValue), ("int8_layers", report.quantized.count),
                            ("weight_bytes_float", report.floatBytes), ("weight_bytes_int8", report.int8Bytes)]
        } else if let state = model.layers.lazy.compactMap({ Int8Quantization.state(of: $0) }).first {
            quantization = [("int8", state.activations == .dynamic ? "dynamic" : "static")]
        }
        let test = try ClassifierCheckpoint.split(dataset, .test, dataDirectory: dataDirectory)
        return RecipeResult(fields: try testFields(model, on: test, classes: 10, batchSize: 1000) + [("checkpoint", checkpoint)] + chosen + quantization)
    }

    /// Test accuracy and loss of a classifier over `test`, and its macro F1, precision and recall.
    static func testFields(_ model: Module & Layer, on test: any Dataset, classes: Int, batchSize: Int) throws -> [(String, Any)] {
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), learningRate: 0), loss: { try Loss.crossEntropy($0, targets: $1) })
        let evaluation = try trainer.evaluate(DataLoader(test, batchSize: batchSize))
        let report = try Metrics.ClassificationReport(predictions: evaluation.predictions, targets: evaluation.targets, classes: classes)
        return [("test_accuracy", evaluation.accuracy ?? .nan), ("test_loss", evaluation.loss),
                ("f1_macro", report.f1Macro), ("precision_macro", report.precisionMacro), ("recall_macro", report.recallMacro)]
    }

    /// A checkpoint of `cortex train --config`: the model its description builds, on the test
    /// data the run named (or `data`), with the description's metrics.
    static func runConfigured(checkpoint given: String, data: String?, last: Bool) throws -> RecipeResult {
        let (checkpoint, chosen) = chooseCheckpoint(given, last: last)
        let (model, carried, configuration) = try ConfiguredModel.load(checkpoint)
        let test = try ConfiguredModel.testSet(carried, configuration, data: data)
        return RecipeResult(fields: try testFields(model, on: test, classes: carried.classes.count, batchSize: 256)
                            + [("test_examples", test.count), ("checkpoint", checkpoint), ("model", configuration.name ?? "configured")] + chosen)
    }

    /// The best checkpoint a training run kept (DIR/best, chosen on validation), unless `last`
    /// asks for the directory's own (the last epoch's); with what it is, for the report.
    static func chooseCheckpoint(_ directory: String, last: Bool) -> (String, [(String, Any)]) {
        let best = directory + "/best"
        guard !last, FileManager.default.fileExists(atPath: ClassifierCheckpoint.weightsPath(best)) else { return (directory, []) }
        return (best, [("best_epoch", Trainer.checkpointEpoch(best) ?? -1)])
    }
}
