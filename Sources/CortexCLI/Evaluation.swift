import CortexCore
import CortexData
import CortexModels
import CortexNN
import CortexTrain

/// `cortex evaluate`: loads a checkpoint into its recipe's model and measures the test set.
enum Evaluation {
    static func run(recipe: String, checkpoint: String, dataDirectory: String?) throws -> RecipeResult {
        let model: Sequential
        let dataset: String
        switch recipe {
        case "mnist-mlp": (model, dataset) = (Classifiers.mnistMLP(), "mnist")
        case "mnist-cnn": (model, dataset) = (Classifiers.mnistCNN(), "mnist")
        case "fashion-cnn": (model, dataset) = (Classifiers.mnistCNN(dropout: 0.25), "fashion-mnist")
        default: throw CortexError.invalidArgument(operation: "cortex evaluate", reason: "unknown recipe \"\(recipe)\" (mnist-mlp, mnist-cnn, fashion-cnn)")
        }
        try model.loadStateDict(from: checkpoint + "/model.safetensors")
        let directory = try DataDirectory.locate(dataset, explicit: dataDirectory, systemLocations: [DataDirectory.debianFashionMNIST])
        let test = try MNIST.load(directory: directory, split: .test)
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), learningRate: 0), loss: { try Loss.crossEntropy($0, targets: $1) })
        let evaluation = try trainer.evaluate(DataLoader(test, batchSize: 1000))
        let report = try Metrics.ClassificationReport(predictions: evaluation.predictions, targets: evaluation.targets, classes: 10)
        return RecipeResult(fields: [("test_accuracy", evaluation.accuracy ?? .nan), ("test_loss", evaluation.loss),
                                     ("f1_macro", report.f1Macro), ("precision_macro", report.precisionMacro), ("recall_macro", report.recallMacro)])
    }
}
