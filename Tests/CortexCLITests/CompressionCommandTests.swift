import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import CortexTestSupport
import Foundation
import Testing
@testable import CortexCLI

/// `cortex prune` and `cortex distill` end to end on a small MNIST-format dataset (random
/// images whose label is a function of their pixels, so there is something to learn): the
/// checkpoints they write load back, and bad values are refused by name.
@Suite struct CompressionCommandTests {
    let directory: String = temporaryDirectory("cortex-compress")
    let cli = CommandLineTests()

    /// A model's weights saved as `directory/model.safetensors`, as `cortex train --out` leaves them.
    func saved(_ model: Module, _ name: String) throws -> String {
        let path = directory + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try model.save(to: path + "/model.safetensors")
        return path
    }

    /// An MNIST directory of `train` and `test` images, labelled by which tenth of the image holds the most ink.
    func writeDataset(train: Int = 300, test: Int = 100) throws -> String {
        let root = directory + "/data/mnist"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var state: UInt32 = 99
        for (prefix, count) in [("train", train), ("t10k", test)] {
            var images: [UInt8] = [0, 0, 8, 3], labels: [UInt8] = [0, 0, 8, 1]
            for dimension in [count, 28, 28] { images += withUnsafeBytes(of: UInt32(dimension).bigEndian, Array.init) }
            labels += withUnsafeBytes(of: UInt32(count).bigEndian, Array.init)
            for _ in 0..<count {
                var pixels = [UInt8](repeating: 0, count: 784)
                state = state &* 1_664_525 &+ 1_013_904_223
                let label = Int(state >> 24) % 10
                for index in 0..<784 {
                    state = state &* 1_664_525 &+ 1_013_904_223
                    let inside = index / 78 == label
                    pixels[index] = UInt8(truncatingIfNeeded: (state >> 24) / (inside ? 1 : 4))
                }
                images += pixels
                labels.append(UInt8(label))
            }
            try Data(images).write(to: URL(fileURLWithPath: "\(root)/\(prefix)-images-idx3-ubyte"))
            try Data(labels).write(to: URL(fileURLWithPath: "\(root)/\(prefix)-labels-idx1-ubyte"))
        }
        return root
    }

    @Test func pruneWritesCheckpointsThatLoadBack() throws {
        let data = try writeDataset()
        let checkpoint = try saved(Classifiers.mnistMLP(generator: RandomGenerator(seed: 3)), "mlp")
        let pruned = directory + "/pruned"
        var command = try CortexCommand.parseAsRoot(["prune", "mnist-mlp", "--checkpoint", checkpoint, "--method", "global", "--amount", "0.9",
                                                     "--iterations", "2", "--fine-tune-epochs", "1", "--data-dir", data, "--out", pruned, "--json"])
        try command.run()
        let model = try ClassifierCheckpoint.load("mnist-mlp", checkpoint: pruned, operation: "test").model
        #expect(abs(try Pruning.sparsity(of: model).weightSparsity - 0.9) < 1e-4)
        let keys = Set(try Safetensors.load(pruned + "/model.safetensors").tensors.keys)
        #expect(keys == ["1.weight_orig", "1.weight_mask", "1.bias", "3.weight_orig", "3.weight_mask", "3.bias"])
        let sparse = try FileManager.default.attributesOfItem(atPath: pruned + "/sparse.safetensors")[.size] as! Int
        let dense = try FileManager.default.attributesOfItem(atPath: checkpoint + "/model.safetensors")[.size] as! Int
        #expect(sparse * 5 < dense)

        let cnn = try saved(Classifiers.mnistCNN(generator: RandomGenerator(seed: 4)), "cnn")
        var structured = try CortexCommand.parseAsRoot(["prune", "mnist-cnn", "--checkpoint", cnn, "--method", "structured", "--amount", "0.5",
                                                        "--data-dir", data, "--out", directory + "/shrunk", "--json"])
        try structured.run()
        let shrunk = try ClassifierCheckpoint.load("mnist-cnn", checkpoint: directory + "/shrunk", operation: "test").model
        #expect((shrunk.layers[0] as! Conv2d).outChannels == 16 && (shrunk.layers[3] as! Conv2d).outChannels == 32)
        #expect((shrunk.layers[7] as! Linear).inFeatures == 32 * 49)
        #expect(cli.failure(["evaluate", "mnist-cnn", "--checkpoint", directory + "/shrunk", "--data-dir", data]) == nil)

        cli.expectFailure(["prune", "mnist-mlp", "--checkpoint", checkpoint, "--amount", "1.5"], mentions: ["--amount", "1.5"])
        cli.expectFailure(["prune", "mnist-mlp", "--checkpoint", checkpoint, "--amount", "0.5", "--method", "l3"], mentions: ["--method", "l3"])
        cli.expectFailure(["prune", "resnet", "--checkpoint", checkpoint, "--amount", "0.5"], mentions: ["resnet", "lenet-300-100"])
        cli.expectFailure(["prune", "mnist-mlp", "--checkpoint", checkpoint, "--amount", "0.5", "--norm=-1"], mentions: ["--norm", "-1"])
        cli.expectFailure(["prune", "mnist-mlp", "--checkpoint", checkpoint, "--amount", "0.5", "--out", checkpoint + "/"], mentions: ["checkpoint directory itself"])
    }

    @Test func distillTrainsAStudentFromATeacher() throws {
        let data = try writeDataset()
        let teacher = try saved(Classifiers.mnistMLP(generator: RandomGenerator(seed: 5)), "teacher")
        let student = directory + "/student"
        var command = try CortexCommand.parseAsRoot(["distill", "--teacher", teacher, "--student", "784-30-30-10", "--temperature", "3",
                                                     "--alpha", "0.8", "--epochs", "1", "--data-dir", data, "--out", student, "--json"])
        try command.run()
        let model = try ClassifierCheckpoint.load(ClassifierCheckpoint.inferredRecipe(student, operation: "test"), checkpoint: student, operation: "test").model
        #expect(model.parameterCount() == 784 * 30 + 30 + 30 * 30 + 30 + 30 * 10 + 10)

        // The transfer set augmented: each epoch's shifted and rotated images, labelled afresh by the teacher.
        command = try CortexCommand.parseAsRoot(["distill", "--teacher", teacher, "--student", "784-30-10", "--epochs", "2", "--random-shift", "2",
                                                 "--random-rotation", "10", "--data-dir", data, "--json"])
        try command.run()
        cli.expectFailure(["distill", "--teacher", teacher, "--student", "784-30-10", "--random-shift=-1"], mentions: ["--random-shift", "-1"])
        cli.expectFailure(["distill", "--teacher", teacher, "--student", "784-30-10", "--random-rotation", "200"], mentions: ["--random-rotation", "200"])
        cli.expectFailure(["distill", "--teacher", teacher, "--student", "char-gpt", "--random-shift", "2"], mentions: ["--random-shift", "char-gpt"])

        let wide = try saved(Classifiers.perceptron([784, 20, 12]), "wide")
        cli.expectFailure(["distill", "--teacher", wide, "--student", "784-30-10", "--data-dir", data], mentions: ["12 outputs", "10"])
        cli.expectFailure(["distill", "--teacher", teacher, "--student", "784-30-10", "--alpha", "2"], mentions: ["--alpha", "2"])
        cli.expectFailure(["distill", "--teacher", teacher, "--student", "784-30-10", "--out", teacher], mentions: ["teacher's directory"])
        cli.expectFailure(["distill", "--teacher", teacher, "--student", "784-30-10", "--temperature", "0"], mentions: ["--temperature", "0"])
        cli.expectFailure(["distill", "--teacher", directory + "/none", "--student", "784-30-10", "--data-dir", data], mentions: ["none"])
    }
}
