import CortexCore
import CortexData
import CortexModels
import CortexNN
import CortexTestSupport
import CortexTrain
import Foundation
import Testing
@testable import CortexCLI

/// The image recipes validate on a share of the training set and read the test set only once
/// training has ended.
@Suite struct HonestEvaluationTests {
    let directory: String = temporaryDirectory("cortex-honest")

    /// Every batch read from the datasets, in order, from whichever thread read it.
    final class AccessLog: @unchecked Sendable {
        private let lock = NSLock()
        private var reads: [String] = []
        func record(_ name: String) { lock.lock(); reads.append(name); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return reads }
    }

    struct RecordingDataset: Dataset, ClassLabelled {
        let base: TensorDataset, name: String, log: AccessLog
        var count: Int { base.count }
        func batch(_ indices: [Int]) throws -> Batch {
            log.record(name)
            return try base.batch(indices)
        }
        func classLabels() throws -> [Int] { try base.classLabels() }
    }

    /// Random 28x28 images labelled by which of ten bands of rows holds the most ink.
    static func images(_ count: Int, seed: UInt64) throws -> TensorDataset {
        let inputs = try Tensor.rand([count, 1, 28, 28], generator: RandomGenerator(seed: seed))
        let bands = try inputs.reshape([count, 28 * 28]).toFloatArray()
        let labels = (0..<count).map { index in
            (0..<10).max { a, b in
                bands[(index * 784 + a * 78)..<(index * 784 + a * 78 + 78)].reduce(0, +) < bands[(index * 784 + b * 78)..<(index * 784 + b * 78 + 78)].reduce(0, +)
            }!
        }
        return try TensorDataset(inputs: inputs, targets: Tensor(integers: labels))
    }

    @Test func theTestSetIsReadOnlyAfterTrainingEnds() throws {
        let log = AccessLog()
        let train = RecordingDataset(base: try HonestEvaluationTests.images(400, seed: 1), name: "train", log: log)
        let test = RecordingDataset(base: try HonestEvaluationTests.images(200, seed: 2), name: "test", log: log)
        let output = directory + "/run"
        var options = RecipeOptions(epochs: 3, batchSize: 32, learningRate: nil, optimizer: "sgd", seed: 0, dataDirectory: nil,
                                    output: output, resume: nil, json: true)
        options.controls.earlyStoppingPatience = 5
        options.controls.logEveryNSteps = 4
        let result = try Recipes.trainClassifier(options, data: (train, test), model: Classifiers.mnistMLP(generator: RandomGenerator(seed: 3)))

        let reads = log.all
        let lastTrainingRead = try #require(reads.lastIndex(of: "train")), firstTestRead = try #require(reads.firstIndex(of: "test"))
        #expect(firstTestRead > lastTrainingRead, "the test set was read at batch \(firstTestRead), before training's last read at \(lastTrainingRead)")
        #expect(reads.filter { $0 == "test" }.count == 1)          // 200 images: one evaluation batch, read once

        let fields = Dictionary(uniqueKeysWithValues: result.fields.map { ($0.0, $0.1) })
        let testAccuracy = try #require(fields["test_accuracy"] as? Double), validationAccuracy = try #require(fields["validation_accuracy"] as? Double)
        let testLoss = try #require(fields["test_loss"] as? Double), validationLoss = try #require(fields["validation_loss"] as? Double)
        #expect(testAccuracy.isFinite && validationAccuracy.isFinite && testLoss != validationLoss)
        #expect(result.json.contains("\"test_accuracy\"") && result.json.contains("\"validation_accuracy\""))

        let history = try JSONDecoder().decode([String: [EpochRecord]].self,
                                               from: Data(contentsOf: URL(fileURLWithPath: output + "/trainer.json")).trimmedTrainerState())
        #expect(history["history"]?.count == 3)
        #expect(FileManager.default.fileExists(atPath: output + "/steps.jsonl"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: output).contains { $0.hasPrefix("events.out.tfevents.") })
        #expect(FileManager.default.fileExists(atPath: output + "/" + TrainingCurves.stepChartName))
        #expect(Evaluation.chooseCheckpoint(output, last: false).0 == output + "/best")
        #expect(Evaluation.chooseCheckpoint(output, last: true).0 == output)
    }

    /// --validation-split reaches the recipes outside the image ones: the language models hold
    /// out the end of their text (and refuse 0, since they report validation loss), and
    /// linear-regression validates on a seeded share.
    @Test func everyRecipeTakesTheValidationSplit() throws {
        #expect(throws: (any Error).self) { try CortexCommand.parseAsRoot(["train", "char-gpt", "--validation-split", "0"]) }
        #expect(throws: (any Error).self) { try CortexCommand.parseAsRoot(["train", "mnist-mlp", "--validation-split", "1"]) }
        var options = RecipeOptions(epochs: 3, batchSize: 32, learningRate: nil, optimizer: "sgd", seed: 0, dataDirectory: nil, output: nil, resume: nil, json: true)
        options.controls.validationSplit = 0.2
        let result = try Recipes.run("linear-regression", options)
        let validation = try #require(result.fields.first { $0.0 == "validation_loss" }?.1 as? Double)
        #expect(validation.isFinite && validation < 0.01, "\(result.fields)")
    }

    @Test func theHeldOutShareIsStratifiedAndSeeded() throws {
        let data = try HonestEvaluationTests.images(500, seed: 4)
        let labels = try data.classLabels()
        let (train, validation) = try Splits.holdOut(data, fraction: 0.2, labels: labels, seed: 9)
        #expect(train.count + validation.count == 500 && Set(train.indices).isDisjoint(with: validation.indices))
        for label in Set(labels) {
            let total = labels.filter { $0 == label }.count, held = validation.indices.filter { labels[$0] == label }.count
            #expect(held == Int((Double(total) * 0.2).rounded()), "class \(label): \(held) of \(total)")
        }
        #expect(try Splits.holdOut(data, fraction: 0.2, labels: labels, seed: 9).validation.indices == validation.indices)
        #expect(try Splits.holdOut(data, fraction: 0.2, labels: labels, seed: 10).validation.indices != validation.indices)
        #expect(throws: CortexError.self) { try Splits.holdOut(data, fraction: 1.5, seed: 0) }
    }
}

private extension Data {
    /// trainer.json with only its history, for decoding the records.
    func trimmedTrainerState() throws -> Data {
        let object = try JSONSerialization.jsonObject(with: self) as? [String: Any] ?? [:]
        return try JSONSerialization.data(withJSONObject: ["history": object["history"] ?? []])
    }
}
