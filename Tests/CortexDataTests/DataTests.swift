import Foundation
import Testing
import CortexTestSupport
import CortexCore
import CortexData
import CortexNN

@Suite struct DataTests {
    let directory: String = temporaryDirectory("cortex-data")

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = directory + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let input = directory + "/raw-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-f", input]
        try process.run()
        process.waitUntilExit()
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: input + ".gz")))
    }

    static let smallIDX: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 255, 51, 102, 1, 2, 3, 4]

    @Test func readsPlainAndGzippedIDX() throws {
        let plain = try IDX.read(write(DataTests.smallIDX, "images"))
        #expect(plain.shape == [2, 2, 2])
        #expect(zip(try plain.toFloatArray().prefix(4), [0, 1, 0.2, 0.4] as [Float]).allSatisfy { Swift.abs($0 - $1) < 1e-7 })
        let compressed = try IDX.read(write(gzip(DataTests.smallIDX), "images.gz"), asLabels: true)
        #expect(try compressed.toIntArray() == [0, 255, 51, 102, 1, 2, 3, 4])
    }

    @Test func corruptIDXFilesAreTypedErrors() throws {
        func expectInvalid(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let path = try write(bytes, "bad-\(UUID().uuidString)")
            expectCortexError([fragment, path], sourceLocation: sourceLocation) { _ = try IDX.read(path) }
        }
        try expectInvalid([0, 0], "truncated")
        try expectInvalid([1, 0, 8, 1, 0, 0, 0, 1, 0], "bad magic")
        try expectInvalid([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], "element type 0xd")
        try expectInvalid(Array(DataTests.smallIDX.dropLast()), "holds 7")
        try expectInvalid([0, 0, 8, 2, 0, 0], "truncated header")
        let compressed = try gzip(DataTests.smallIDX + [UInt8](repeating: 7, count: 4000))
        try expectInvalid(Array(compressed.prefix(compressed.count / 2)), "truncated")
        var corrupted = compressed
        corrupted[12] ^= 0xFF
        corrupted[13] ^= 0xFF
        let path = try write(corrupted, "corrupt.gz")
        #expect(throws: CortexError.self) { try IDX.read(path) }
        #expect(throws: CortexError.self) { try IDX.read(directory + "/missing") }
    }

    @Test func loaderBatchesShufflesReproduciblyAndDropsLast() throws {
        let inputs = try Tensor.arange(0, 10).reshape([10, 1])
        let data = try TensorDataset(inputs: inputs, targets: Tensor(integers: Array(0..<10)))
        let loader = DataLoader(data, batchSize: 4, shuffle: true, dropLast: true, seed: 3)
        #expect(loader.batchCount == 2)
        var seen: [Int] = []
        try loader.epoch(0).forEachBatch { batch in
            #expect(batch.count == 4)
            #expect(try batch.inputs.toIntArray() == batch.targets.toIntArray())
            seen += try batch.targets.toIntArray()
        }
        #expect(Set(seen).count == 8)
        #expect(loader.order(epoch: 0) == DataLoader(data, batchSize: 4, shuffle: true, seed: 3).order(epoch: 0))
        #expect(loader.order(epoch: 0) != loader.order(epoch: 1))
        let ordered = DataLoader(data, batchSize: 4)
        var all: [Int] = []
        try ordered.epoch().forEachBatch { all += try $0.targets.toIntArray() }
        #expect(all == Array(0..<10))
    }

    @Test func transformErrorsSurfaceAtTheLoop() throws {
        let data = try TensorDataset(inputs: Tensor.zeros([3, 2]), targets: Tensor.zeros([3]))
        let loader = DataLoader(data, batchSize: 2) { _, _ in throw CortexError.invalidArgument(operation: "transform", reason: "boom") }
        #expect(throws: CortexError.self) { try loader.epoch().forEachBatch { _ in } }
        #expect(throws: CortexError.self) { try TensorDataset(inputs: Tensor.zeros([3, 2]), targets: Tensor.zeros([4])) }
    }

    @Test func splitsAndFoldsCoverEveryExampleOnce() throws {
        let data = try TensorDataset(inputs: Tensor.arange(0, 103).reshape([103, 1]), targets: Tensor(integers: Array(0..<103)))
        let parts = try Splits.random(data, fractions: [0.8, 0.1, 0.1], seed: 1)
        #expect(parts.map(\.count) == [83, 10, 10])
        #expect(Set(parts.flatMap(\.indices)).count == 103)
        let folds = try Splits.kFold(data, folds: 5, seed: 2)
        #expect(folds.flatMap(\.validation.indices).sorted() == Array(0..<103))
        #expect(folds.allSatisfy { $0.train.count + $0.validation.count == 103 })
        #expect(throws: CortexError.self) { try Splits.random(data, fractions: [0.5, 0.4], seed: 1) }
        #expect(throws: CortexError.self) { try Splits.kFold(data, folds: 1, seed: 1) }
    }

    /// Real MNIST from ../shared/data/mnist (skipped with a message where it is absent).
    @Test func realMNIST() throws {
        guard let directory = try? DataDirectory.locate("mnist") else {
            print("skipping realMNIST: no MNIST directory (set CORTEX_DATA_DIR or provide ../shared/data/mnist)")
            return
        }
        let test = try MNIST.load(directory: directory, split: .test)
        #expect(test.inputs.shape == [10_000, 1, 28, 28] && test.targets.shape == [10_000])
        let labels = try test.targets.toIntArray()
        #expect(Set(labels) == Set(0..<10))
        #expect(Array(labels.prefix(5)) == [7, 2, 1, 0, 4])   // the well-known first test labels
        #expect(Swift.abs(try test.inputs.mean().item() - 0.1325) < 0.001)
        #expect(throws: CortexError.self) { try MNIST.load(directory: self.directory, split: .train) }
    }
}

@Suite struct TransformTests {
    static let image = try! Tensor((0..<16).map(Float.init), shape: [1, 1, 4, 4])
    static func batch() -> Batch { Batch(inputs: image, targets: try! Tensor(integers: [0])) }

    @Test func normalizeAndFlip() throws {
        let normalized = try Transforms.normalize(mean: [8], standardDeviation: [2])(TransformTests.batch(), RandomGenerator(seed: 0))
        #expect(try normalized.inputs.toFloatArray()[0] == -4)
        let flipped = try Transforms.horizontalFlip(probability: 1)(TransformTests.batch(), RandomGenerator(seed: 0))
        #expect(try flipped.inputs.toFloatArray().prefix(4) == [3, 2, 1, 0])
        #expect(throws: CortexError.self) { try Transforms.normalize(mean: [0, 0], standardDeviation: [1, 1])(TransformTests.batch(), RandomGenerator(seed: 0)) }
    }

    @Test func cropRotateErase() throws {
        let cropped = try Transforms.randomCrop(size: 4, padding: 2)(TransformTests.batch(), RandomGenerator(seed: 4))
        #expect(cropped.inputs.shape == [1, 1, 4, 4])
        // Every kept pixel is an original value, moved as one block.
        #expect(Set(try cropped.inputs.toFloatArray()).isSubset(of: Set((0..<16).map(Float.init))))
        let smaller = try Transforms.randomCrop(size: 2)(TransformTests.batch(), RandomGenerator(seed: 1))
        #expect(smaller.inputs.shape == [1, 1, 2, 2])
        let unrotated = try Transforms.randomRotation(degrees: 0)(TransformTests.batch(), RandomGenerator(seed: 0))
        #expect(try unrotated.inputs.toFloatArray() == TransformTests.image.toFloatArray())
        let rotated = try Transforms.randomRotation(degrees: 15)(TransformTests.batch(), RandomGenerator(seed: 2))
        #expect(try rotated.inputs.toFloatArray() != TransformTests.image.toFloatArray())
        let big = Batch(inputs: try Tensor.ones([1, 1, 32, 32]), targets: try Tensor(integers: [0]))
        let erased = try Transforms.randomErasing(probability: 1)(big, RandomGenerator(seed: 3))
        let zeros = try erased.inputs.toFloatArray().filter { $0 == 0 }.count
        #expect(zeros >= Int(0.02 * 1024) - 1 && zeros <= Int(0.34 * 1024))
        #expect(throws: CortexError.self) { try Transforms.randomCrop(size: 9)(TransformTests.batch(), RandomGenerator(seed: 0)) }
    }
}

@Suite struct TableAndCIFARTests {
    let directory: String = temporaryDirectory("cortex-tables")

    func write(_ text: String, _ name: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func csvTables() throws {
        let path = try write("a, b, label\n1, 2, 0\n3.5, -1, 1\n", "table.csv")
        let table = try CSVTable.load(path, targetColumn: "label", classification: true)
        #expect(try table.inputs.toFloatArray() == [1, 2, 3.5, -1] && table.targets.toIntArray() == [0, 1])
        let regression = try CSVTable.load(try write("1,2,3\n4,5,6\n", "plain.csv"), targetColumn: "0", hasHeader: false)
        #expect(try regression.targets.toFloatArray() == [1, 4] && regression.inputs.toFloatArray() == [2, 3, 5, 6])
        for (text, fragment) in [("a,b\n1,x\n", "\"x\" is not a number"), ("a,b\n1,2,3\n", "line 2 has 3 cells"), ("a,b\n", "no data rows")] {
            do {
                _ = try CSVTable.load(try write(text, "bad.csv"), targetColumn: "b")
                Issue.record("expected \(fragment)")
            } catch let error as CortexError {
                #expect(error.description.contains(fragment), "\(error)")
            }
        }
        #expect(throws: CortexError.self) { try CSVTable.load(path, targetColumn: "missing") }
    }

    @Test func cifarBatches() throws {
        var bytes = [UInt8]()
        for record in 0..<3 { bytes.append(UInt8(record)); bytes += [UInt8](repeating: UInt8(record * 50), count: 3072) }
        let path = directory + "/data.bin"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let batch = try CIFAR10.readBatch(path)
        #expect(batch.inputs.shape == [3, 3, 32, 32])
        #expect(try batch.targets.toIntArray() == [0, 1, 2])
        #expect(Swift.abs(try batch.inputs.select(axis: 0, index: 2).mean().item() - 100.0 / 255) < 1e-6)
        try Data(bytes.dropLast()).write(to: URL(fileURLWithPath: path))
        #expect(throws: CortexError.self) { try CIFAR10.readBatch(path) }
        bytes[0] = 12
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: CortexError.self) { try CIFAR10.readBatch(path) }
        #expect(throws: CortexError.self) { try CIFAR10.load(directory: directory, train: false) }
    }
}
