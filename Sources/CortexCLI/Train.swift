import ArgumentParser
import CortexCore
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train one of the built-in recipes.",
        discussion: "Recipes: \(Recipes.names.joined(separator: ", ")). Data is found with --data-dir, CORTEX_DATA_DIR or ../shared/data.")

    @Argument(help: "The recipe to train.") var recipe: String
    @Option(help: "Epochs to train, in total when resuming (the recipe's default when omitted).") var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Examples per batch.") var batchSize = 64
    @Option(name: .customLong("lr"), help: "Learning rate (the recipe's default when omitted).") var learningRate: Float?
    @Option(help: "sgd (with momentum 0.9), adam, adamw, rmsprop or adagrad (the recipe's default when omitted: adam for the CNNs, sgd otherwise).")
    var optimizer: String?
    @Option(help: "Seed for initialisation, shuffling and dropout.") var seed: UInt64 = 0
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's files.") var dataDirectory: String?
    @Option(name: .customLong("out"), help: "Directory for the checkpoint and training curves.") var output: String?
    @Option(help: "Checkpoint directory to continue training from.") var resume: String?
    @Flag(help: "Print one JSON object with the final metrics as the last line.") var json = false

    func validate() throws {
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
    }

    func run() throws {
        let options = RecipeOptions(epochs: epochs ?? Recipes.defaultEpochs(recipe), batchSize: batchSize, learningRate: learningRate,
                                    optimizer: optimizer ?? Recipes.defaultOptimizer(recipe), seed: seed,
                                    dataDirectory: dataDirectory, output: output, resume: resume, json: json)
        do {
            let result = try Recipes.run(recipe, options)
            if json { print(result.json) } else { print(result.fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ")) }
        } catch let error as CortexError {
            throw ValidationError(error.description)
        }
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a saved image-classifier checkpoint on its test set.")

    @Argument(help: "mnist-mlp, mnist-cnn or fashion-cnn.") var recipe: String
    @Option(help: "Checkpoint directory written by `cortex train --out`.") var checkpoint: String
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's files.") var dataDirectory: String?
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        do {
            let result = try Evaluation.run(recipe: recipe, checkpoint: checkpoint, dataDirectory: dataDirectory)
            if json { print(result.json) } else { print(result.fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ")) }
        } catch let error as CortexError {
            throw ValidationError(error.description)
        }
    }
}
