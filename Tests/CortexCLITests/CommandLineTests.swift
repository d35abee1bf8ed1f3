import ArgumentParser
import Foundation
import Testing
import CortexCore
import CortexData
import CortexModels
@testable import CortexCLI

/// The `cortex` commands, parsed and run in-process: bad options are refused with a message
/// naming the value, and `predict` agrees with the model it loads.
@Suite struct CommandLineTests {
    let directory: String = {
        let path = NSTemporaryDirectory() + "cortex-cli-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// The message ArgumentParser would print for `arguments`, or nil when they parse and run.
    func failure(_ arguments: [String]) -> String? {
        do {
            var command = try CortexCommand.parseAsRoot(arguments)
            try command.run()
            return nil
        } catch {
            return CortexCommand.message(for: error)
        }
    }

    func expectFailure(_ arguments: [String], mentions fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let message = failure(arguments) else {
            Issue.record("\(arguments) should have failed", sourceLocation: sourceLocation)
            return
        }
        for fragment in fragments {
            #expect(message.contains(fragment), "\(arguments): \"\(message)\" should mention \"\(fragment)\"", sourceLocation: sourceLocation)
        }
    }

    @Test func badTrainingOptionsAreRefusedByName() {
        expectFailure(["train", "mnist-mlp", "--epochs", "0"], mentions: ["--epochs", "0"])
        expectFailure(["train", "mnist-mlp", "--epochs", "three"], mentions: ["three"])
        expectFailure(["train", "mnist-mlp", "--batch-size=-4"], mentions: ["--batch-size", "-4"])
        expectFailure(["train", "resnet-9000"], mentions: ["resnet-9000", "mnist-cnn"])
        expectFailure(["train", "xor", "--optimizer", "nadam"], mentions: ["nadam", "adamw"])
        expectFailure(["train", "xor", "--lr=-0.5"], mentions: ["--lr", "-0.5"])
        expectFailure(["train", "xor", "--lr", "nan"], mentions: ["--lr", "nan"])
        expectFailure(["train", "mnist-mlp", "--data-dir", directory + "/absent"], mentions: [directory + "/absent", "does not exist"])
        expectFailure(["train", "xor", "--no-such-flag"], mentions: ["--no-such-flag"])
    }

    @Test func badEvaluateAndPredictOptionsAreRefusedByName() throws {
        expectFailure(["evaluate", "lstm", "--checkpoint", directory], mentions: ["lstm"])
        expectFailure(["evaluate", "mnist-mlp", "--checkpoint", directory + "/missing"], mentions: [directory + "/missing/model.safetensors"])
        expectFailure(["predict", "mnist-mlp"], mentions: ["--checkpoint"])
        try Classifiers.mnistMLP(generator: RandomGenerator(seed: 1)).save(to: directory + "/model.safetensors")
        // A checkpoint of another architecture names the mismatching keys.
        expectFailure(["predict", "mnist-cnn", "--checkpoint", directory, "--images", try writeImages(count: 1)], mentions: ["missing keys", "3.weight"])
        let images = try writeImages(count: 3)
        expectFailure(["predict", "mnist-mlp", "--checkpoint", directory, "--images", images, "--indices", "0,x"], mentions: ["\"x\""])
        expectFailure(["predict", "mnist-mlp", "--checkpoint", directory, "--images", images, "--indices", "7"], mentions: ["7"])
        expectFailure(["download", "imagenet"], mentions: ["imagenet", "cifar10"])
    }

    @Test func predictMatchesTheSavedModel() throws {
        let model = Classifiers.mnistMLP(generator: RandomGenerator(seed: 2))
        try model.save(to: directory + "/model.safetensors")
        let images = try writeImages(count: 4)
        let command = try #require(try CortexCommand.parseAsRoot(
            ["predict", "mnist-mlp", "--checkpoint", directory, "--images", images, "--indices", "3,1"]) as? Predict)
        let predictions = try command.predictions()
        let inputs = try IDX.read(images).unsqueeze(1)
        let expected = try withNoGrad { try model(inputs).softmax(axis: -1) }.toFloatArray()
        #expect(predictions.map(\.index) == [3, 1])
        for prediction in predictions {
            let row = Array(expected[(prediction.index * 10)..<(prediction.index * 10 + 10)])
            #expect(prediction.predictedClass == row.indices.max { row[$0] < row[$1] }!)
            #expect(Swift.abs(prediction.probability - row.max()!) < 1e-6)
        }
    }

    @Test func xorTrainsFromTheCommandLine() throws {
        var command = try CortexCommand.parseAsRoot(["train", "xor", "--epochs", "4", "--out", directory + "/xor", "--json"])
        try command.run()
        #expect(FileManager.default.fileExists(atPath: directory + "/xor/model.safetensors"))
    }

    /// The cifar-cnn recipe end to end on CIFAR-10-format batch files (four random records per
    /// file: the real files cannot be fetched here, the format and the network are the same).
    @Test func cifarRecipeRunsOnBatchFiles() throws {
        let data = directory + "/cifar-10-batches-bin"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var state: UInt32 = 7
        for name in (1...5).map({ "data_batch_\($0).bin" }) + ["test_batch.bin"] {
            var bytes: [UInt8] = []
            for record in 0..<4 {
                bytes.append(UInt8(record % 10))
                for _ in 0..<3072 {
                    state = state &* 1_664_525 &+ 1_013_904_223
                    bytes.append(UInt8(truncatingIfNeeded: state >> 24))
                }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: data + "/" + name))
        }
        var command = try CortexCommand.parseAsRoot(["train", "cifar-cnn", "--epochs", "1", "--batch-size", "8", "--data-dir", data,
                                                     "--out", directory + "/cifar", "--json"])
        try command.run()
        #expect(FileManager.default.fileExists(atPath: directory + "/cifar/model.safetensors"))
        // A truncated batch file names itself.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: data + "/data_batch_3.bin"))
        expectFailure(["train", "cifar-cnn", "--epochs", "1", "--data-dir", data], mentions: [data + "/data_batch_3.bin", "3073-byte"])
    }

    /// An IDX file of `count` random 28x28 byte images.
    func writeImages(count: Int) throws -> String {
        var bytes: [UInt8] = [0, 0, 8, 3]
        for dimension in [count, 28, 28] { bytes += withUnsafeBytes(of: UInt32(dimension).bigEndian, Array.init) }
        var state: UInt32 = 12345
        for _ in 0..<(count * 784) {
            state = state &* 1_664_525 &+ 1_013_904_223
            bytes.append(UInt8(truncatingIfNeeded: state >> 24))
        }
        let path = directory + "/images-\(count).idx"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
