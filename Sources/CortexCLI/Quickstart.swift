import ArgumentParser
import CortexCore
import CortexData
import Foundation

/// `cortex quickstart`: README's main job. Trains the CNN on real Fashion-MNIST (Debian's
/// dataset-fashion-mnist) or, where that is absent, MNIST, for one epoch; evaluates it; writes
/// the checkpoint and training curves; says where they are.
struct Quickstart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a CNN on real (Fashion-)MNIST for one epoch, evaluate it and save it.")

    @Option(name: .customLong("out"), help: "Directory for the checkpoint and curves.") var output = "runs/quickstart"
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's IDX files.") var dataDirectory: String?
    @Flag(help: "Print one JSON object as the last line.") var json = false

    func run() throws {
        let recipe: String
        if dataDirectory == nil, (try? DataDirectory.locate("fashion-mnist", systemLocations: [DataDirectory.debianFashionMNIST])) != nil {
            recipe = "fashion-cnn"
        } else {
            recipe = dataDirectory == nil ? "mnist-cnn" : "fashion-cnn"
        }
        if !json { print("quickstart: training \(recipe) for one epoch") }
        let options = RecipeOptions(epochs: 1, batchSize: 64, learningRate: nil, optimizer: "adam", seed: 0,
                                    dataDirectory: dataDirectory, output: output, resume: nil, json: json)
        let result = try Recipes.run(recipe, options)
        let path = (output as NSString).standardizingPath
        if json {
            print(RecipeResult(fields: result.fields + [("recipe", recipe), ("checkpoint", path)]).json)
        } else {
            print(result.fields.map { "\($0.0): \($0.1)" }.joined(separator: ", "))
            // The recipe has already said where the checkpoint went; name the files in it.
            print("files: \(path)/model.safetensors (optimizer and trainer state beside it), \(path)/loss.svg, \(path)/accuracy.svg, "
                  + "\(path)/loss-by-step.svg, \(path)/steps.jsonl and a TensorBoard event file; the best epoch by validation loss in \(path)/best")
            print("evaluate again with: cortex evaluate \(recipe) --checkpoint \(path)")
        }
    }
}
