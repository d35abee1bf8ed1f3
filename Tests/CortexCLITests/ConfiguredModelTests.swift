import CortexCore
import CortexData
import CortexModels
import CortexNN
import CortexTestSupport
import CortexTrain
import Foundation
import Testing
@testable import CortexCLI

/// Models described in YAML or JSON (`cortex train --config`): built as the Swift recipes build
/// them, trained on image folders and CSV files, evaluated and used for predictions from the
/// checkpoint alone; bad descriptions and data are errors naming the file and key.
@Suite struct ConfiguredModelTests {
    let directory: String = temporaryDirectory("cortex-configured")

    static var examples: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/Examples"
    }

    func write(_ text: String, _ name: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Examples/mnist-cnn.yaml builds the seed's MNIST CNN: the same names, shapes and, from
    /// the same generator, the same initial values.
    @Test func theMNISTDescriptionIsTheRecipesCNN() throws {
        let configuration = try ModelConfiguration.load(ConfiguredModelTests.examples + "/mnist-cnn.yaml")
        let described = try configuration.build(generator: RandomGenerator(seed: 11))
        let recipe = Classifiers.mnistCNN(generator: RandomGenerator(seed: 11))
        let (a, b) = (described.namedParameters(), recipe.namedParameters())
        #expect(a.map(\.0) == b.map(\.0))
        for ((name, x), (_, y)) in zip(a, b) { #expect(try x.toFloatArray() == y.toFloatArray(), "\(name)") }
        #expect(configuration.epochs == 3 && configuration.batchSize == 64 && configuration.optimizer == "adam" && configuration.learningRate == 0.002)
        for example in ["fashion-folder-cnn.yaml", "arrests-mlp.json"] { _ = try ModelConfiguration.load(ConfiguredModelTests.examples + "/" + example) }
    }

    @Test func badDescriptionsNameTheFileAndKey() throws {
        let cases: [(String, [String])] = [
            ("input: [1, 28, 28]\nlayers:\n  - flatten\n  - conv3d: {out_channels: 4}\n", ["layers[1]", "unknown layer type \"conv3d\""]),
            ("input: [1, 28, 28]\nlayers:\n  - flatten\n  - linear: {in_features: 700, out_features: 10}\n", ["layers[1] (linear)", "[700]", "[784]"]),
            ("input: [1, 28, 28]\nlayers:\n  - conv2d: {in_channels: 3, out_channels: 8}\n", ["layers[0] (conv2d)", "in_channels 3", "[1, 28, 28]"]),
            ("input: [1, 28, 28]\nlayers:\n  - linear: 10\n", ["layers[0] (linear)", "[1, 28, 28]", "flatten"]),
            ("input: [1, 28, 28]\nlayers:\n  - conv2d: {out_channels: 8, kernal_size: 3}\n", ["layers[0].conv2d.kernal_size", "unknown option"]),
            ("input: [1, 28, 28]\nlayers: [flatten, {linear: 10}]\noptimiser: sgd\n", ["optimiser", "unknown key"]),
            ("layers: [flatten]\n", ["input", "missing"]),
            ("input: [4]\nlayers: [{linear: 2}]\noptimizer: lbfgs\n", ["optimizer", "lbfgs"]),
            ("input: [4]\nlayers: [{linear: 2}]\nmetrics: [auc]\n", ["metrics", "auc"]),
            ("input: [4]\nlayers: [{linear: two}]\n", ["layers[0].linear", "not an integer"]),
            ("input: [4\nlayers: [", ["not valid YAML"]),
            ("input: [1, 28, 28]\nlayers: [flatten, {linear: 10}]\naugment: [{random_crop: {size: 24}}]\n", ["augment[0]", "random_crop size 24"]),
            ("input: [1, 28, 28]\nlayers: [flatten, {linear: 10}]\naugment: [mixup]\n", ["augment[0]", "unknown augmentation type \"mixup\""]),
        ]
        for (index, (text, words)) in cases.enumerated() {
            let path = try write(text, "bad\(index).yaml")
            do {
                _ = try ModelConfiguration.load(path)
                Issue.record("case \(index) was accepted")
            } catch let error as CortexError {
                let message = error.description
                #expect(message.contains("bad\(index).yaml") && words.allSatisfy(message.contains), "case \(index): \(message)")
            }
        }
    }

    /// Two classes of 16x16 RGB images, bright top or bright bottom, as PNG and JPEG files.
    func writeImageFolders() throws -> String {
        let root = directory + "/images"
        var state: UInt32 = 5
        for (split, count) in [("train", 40), ("test", 12)] {
            for label in ["bottom", "top"] {
                try FileManager.default.createDirectory(atPath: "\(root)/\(split)/\(label)", withIntermediateDirectories: true)
                for index in 0..<count {
                    var pixels = [UInt8](repeating: 0, count: 16 * 16 * 3)
                    for position in pixels.indices {
                        state = state &* 1_664_525 &+ 1_013_904_223
                        let row = position / 48, bright = (row < 8) == (label == "top")
                        pixels[position] = UInt8(truncatingIfNeeded: (state >> 24) / (bright ? 1 : 3))
                    }
                    let image = try Image(width: 16, height: 16, channels: 3, pixels: pixels)
                    try image.writePNG(to: "\(root)/\(split)/\(label)/\(index).png")
                }
            }
        }
        return root
    }

    @Test func trainsEvaluatesAndPredictsOnAnImageFolder() throws {
        let data = try writeImageFolders()
        let configuration = try write("""
            name: tiny
            input: [3, 12, 12]
            layers:
              - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
              - relu
              - max_pool2d: 2
              - flatten
              - linear: 2
            optimizer: {name: adam, lr: 0.01}
            epochs: 6
            batch_size: 8
            metrics: [accuracy, f1_macro]
            """, "tiny.yaml")
        let output = directory + "/tiny-run"
        var command = try CortexCommand.parseAsRoot(["train", "--config", configuration, "--data", data, "--out", output, "--json"])
        try command.run()
        let carried = try JSONDecoder().decode(ConfiguredModel.Carried.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/best/" + ConfiguredModel.fileName)))
        #expect(carried.classes == ["bottom", "top"] && carried.data.kind == .images)

        let evaluation = try Evaluation.runConfigured(checkpoint: output, data: nil, last: false)
        let fields = Dictionary(uniqueKeysWithValues: evaluation.fields.map { ($0.0, $0.1) })
        #expect((fields["test_accuracy"] as? Double ?? 0) >= 0.9, "\(evaluation.fields)")
        #expect(fields["test_examples"] as? Int == 24 && fields["f1_macro"] != nil)

        var predict = try CortexCommand.parseAsRoot(["predict", "--checkpoint", output, "--images", data + "/test/top/0.png", data + "/test/bottom/1.png"])
        try predict.run()
        let predictions = try #require(predict as? Predict).configuredPredictions()
        #expect(predictions.map(\.1) == ["top", "bottom"])
    }

    @Test func trainsOnACSVWithEncodingFittedOnTrainingRowsOnly() throws {
        var lines = ["colour,size,weight,label"]
        var state: UInt32 = 9
        for _ in 0..<240 {
            state = state &* 1_664_525 &+ 1_013_904_223
            let colour = ["red", "green", "blue"][Int(state >> 28) % 3]
            state = state &* 1_664_525 &+ 1_013_904_223
            let size = Double(state >> 16) / 65536 * 10
            let label = (colour == "red") != (size > 5) ? "yes" : "no"
            lines.append("\(colour),\(String(format: "%.3f", size)),\(Int(state >> 20) % 50),\(label)")
        }
        let csv = try write(lines.joined(separator: "\n") + "\n", "table.csv")
        let configuration = try write("""
            {"input": [5], "layers": [{"linear": 16}, "tanh", {"linear": 2}], "optimizer": {"name": "adam", "lr": 0.05},
             "epochs": 30, "batch_size": 16, "target": "label"}
            """, "table.json")
        let output = directory + "/table-run"
        let result = try ConfiguredModel.train(configurationPath: configuration, data: csv, testData: nil, target: nil,
                                               overrides: .init(), options: RecipeOptions(epochs: 1, batchSize: 1, learningRate: nil, optimizer: "adam", seed: 0,
                                                                                          dataDirectory: nil, output: output, resume: nil, json: true))
        let accuracy = try #require(result.fields.first { $0.0 == "test_accuracy" }?.1 as? Double)
        #expect(accuracy >= 0.85, "\(result.fields)")
        let carried = try JSONDecoder().decode(ConfiguredModel.Carried.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/" + ConfiguredModel.fileName)))
        let encoder = try #require(carried.data.encoder)
        #expect(encoder.featureNames == ["colour=blue", "colour=green", "colour=red", "size", "weight"])
        // Fitted on the training rows only: 240 rows, 20% test, then 10% of the rest validation.
        let trainingRows = Set(0..<240).subtracting(carried.data.testRows ?? [])
        #expect(trainingRows.count == 192)
        if case .numeric(_, let mean, _) = encoder.columns[1] {
            let table = try TabularTable.load(csv)
            let all = try table.column("size").compactMap(Double.init)
            #expect(abs(mean - all.reduce(0, +) / Double(all.count)) > 1e-9)   // not the whole file's mean
        }
        let evaluation = try Evaluation.runConfigured(checkpoint: output, data: nil, last: true)
        #expect(evaluation.fields.first { $0.0 == "test_examples" }?.1 as? Int == 48)

        do {
            _ = try ConfiguredModel.train(configurationPath: configuration, data: csv, testData: nil, target: "colour_name", overrides: .init(),
                                          options: RecipeOptions(epochs: 1, batchSize: 1, learningRate: nil, optimizer: "adam", seed: 0,
                                                                 dataDirectory: nil, output: nil, resume: nil, json: true))
            Issue.record("a missing target column was accepted")
        } catch let error as CortexError {
            #expect(error.description.contains("colour_name") && error.description.contains("table.csv"), "\(error)")
        }
    }
}
