import Foundation
import Testing
import CortexTestSupport
import CortexCore
import CortexData
import CortexNN
import CortexTrain

@Suite(.serialized) struct TrainerTests {
    let directory: String = temporaryDirectory("cortex-trainer")

    /// A synthetic 3-class problem: the class is the argmax of three fixed projections.
    static func syntheticData(seed: UInt64) throws -> TensorDataset {
        let inputs = try Tensor.randn([600, 8], generator: RandomGenerator(seed: seed))
        let projection = try Tensor.randn([8, 3], generator: RandomGenerator(seed: 99))
        return try TensorDataset(inputs: inputs, targets: inputs.matmul(projection).argmax(axis: 1))
    }

    static func makeTrainer(dropoutSeed: UInt64 = 123) -> Trainer {
        // A generator of its own: the process-wide default is shared with tests running in parallel.
        let dropoutGenerator = RandomGenerator(seed: dropoutSeed)
        let model = Sequential(Linear(8, 32, generator: RandomGenerator(seed: 1)), ReLU(), Dropout(0.2, generator: dropoutGenerator),
                               Linear(32, 3, generator: RandomGenerator(seed: 2)))
        let optimizer = Adam(model.parameters(), learningRate: 0.01)
        let trainer = Trainer(model: model, optimizer: optimizer, loss: { try Loss.crossEntropy($0, targets: $1) },
                              scheduler: try! StepDecay(optimizer, stepSize: 1, gamma: 0.5))
        trainer.progress = ProgressReporter(enabled: false)
        trainer.generators = [dropoutGenerator]
        return trainer
    }

    @Test func resumingContinuesBitForBit() throws {
        let data = try TrainerTests.syntheticData(seed: 5)
        let loader = DataLoader(data, batchSize: 32, shuffle: true, seed: 7)

        let straight = TrainerTests.makeTrainer()
        try straight.fit(train: loader, epochs: 2)

        let first = TrainerTests.makeTrainer()
        try first.fit(train: loader, epochs: 1)
        try first.saveCheckpoint(to: directory)
        let resumed = TrainerTests.makeTrainer(dropoutSeed: 999)   // the checkpoint restores the generator

        try resumed.loadCheckpoint(from: directory)
        try resumed.fit(train: loader, epochs: 2)

        #expect(resumed.history.map(\.trainLoss) == straight.history.map(\.trainLoss))
        for ((name, a), (_, b)) in zip(resumed.model.namedParameters(), straight.model.namedParameters()) {
            #expect(try a.toFloatArray() == b.toFloatArray(), "\(name)")
        }
        #expect(resumed.optimizer.learningRates == straight.optimizer.learningRates)
        #expect(FileManager.default.fileExists(atPath: directory + "/loss.svg"))
        #expect(FileManager.default.fileExists(atPath: directory + "/accuracy.svg"))
    }

    @Test func divergingTrainingStopsAtTheFirstNonFiniteLoss() throws {
        let data = try TrainerTests.syntheticData(seed: 5)
        let model = Sequential(Linear(8, 32, generator: RandomGenerator(seed: 1)), ReLU(), Linear(32, 3, generator: RandomGenerator(seed: 2)))
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), learningRate: 1e30), loss: { try Loss.crossEntropy($0, targets: $1) })
        trainer.progress = ProgressReporter(enabled: false)
        trainer.stopsOnNonFiniteLoss = true
        do {
            try trainer.fit(train: DataLoader(data, batchSize: 32), epochs: 3)
            Issue.record("a learning rate of 1e30 trained three epochs without stopping")
        } catch let error as CortexError {
            let message = "\(error)"
            #expect(message.contains("epoch 1, step") && message.contains("diverged") && message.contains("learning rate 1e+30"), "\(message)")
        }
        #expect(trainer.history.isEmpty)
    }

    @Test func trainingLearnsAndCallbacksRun() throws {
        let train = try TrainerTests.syntheticData(seed: 5), test = try TrainerTests.syntheticData(seed: 6)
        let trainer = TrainerTests.makeTrainer()
        trainer.scheduler = nil
        let csv = directory + "/log.csv"
        trainer.callbacks = [CSVLogger(path: csv), BestCheckpoint(directory: directory + "/best"), EarlyStopping(patience: 50)]
        try trainer.fit(train: DataLoader(train, batchSize: 32, shuffle: true, seed: 1),
                        validation: DataLoader(test, batchSize: 100), epochs: 8)
        let accuracy = try #require(trainer.history.last?.validationAccuracy)
        #expect(accuracy > 0.9)
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 9 && rows[0].hasPrefix("epoch,train_loss"))
        #expect(FileManager.default.fileExists(atPath: directory + "/best/model.safetensors"))
    }

    /// `precision = .bfloat16` trains and evaluates under autocast: it learns as float32 does,
    /// and its epoch losses differ from float32's (the products are rounded), but only slightly.
    @Test func bfloat16PrecisionTrainsLikeFloat32() throws {
        let train = try TrainerTests.syntheticData(seed: 5), test = try TrainerTests.syntheticData(seed: 6)
        func run(_ precision: Autocast.Precision?) throws -> [EpochRecord] {
            let trainer = TrainerTests.makeTrainer()
            trainer.scheduler = nil
            trainer.precision = precision
            return try trainer.fit(train: DataLoader(train, batchSize: 32, shuffle: true, seed: 1), validation: DataLoader(test, batchSize: 100), epochs: 4)
        }
        let (full, mixed) = (try run(nil), try run(.bfloat16))
        #expect(try #require(mixed.last?.validationAccuracy) > 0.9)
        #expect(full.map(\.trainLoss) != mixed.map(\.trainLoss))
        for (a, b) in zip(full, mixed) { #expect(abs(a.trainLoss - b.trainLoss) < 0.05, "epoch \(a.epoch): \(a.trainLoss) against \(b.trainLoss)") }
    }

    @Test func mismatchedCheckpointsAreTypedErrors() throws {
        let trainer = TrainerTests.makeTrainer()
        try trainer.saveCheckpoint(to: directory + "/small")
        let other = Sequential(Linear(8, 16), ReLU(), Linear(16, 3))
        let wrong = Trainer(model: other, optimizer: SGD(other.parameters(), learningRate: 0.1), loss: { try Loss.mse($0, $1) })
        do {
            try wrong.loadCheckpoint(from: directory + "/small")
            Issue.record("expected an error")
        } catch let error as CortexError {
            #expect(error.description.contains("model.safetensors") && error.description.contains("0.weight"))
        }
        #expect(throws: CortexError.self) { try trainer.loadCheckpoint(from: directory + "/nothing-here") }
    }

    /// Real MNIST, one epoch of the 784-128-10 MLP (skipped where the data is absent).
    @Test func mnistMLPLearnsInOneEpoch() throws {
        guard let location = try? DataDirectory.locate("mnist") else {
            print("skipping mnistMLPLearnsInOneEpoch: no MNIST directory (set CORTEX_DATA_DIR or provide ../shared/data/mnist)")
            return
        }
        let train = try MNIST.load(directory: location, split: .train), test = try MNIST.load(directory: location, split: .test)
        let model = Sequential(Flatten(), Linear(784, 128, generator: RandomGenerator(seed: 0)), ReLU(),
                               Linear(128, 10, generator: RandomGenerator(seed: 1)))
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), learningRate: 0.1, momentum: 0.9),
                              loss: { try Loss.crossEntropy($0, targets: $1) })
        trainer.progress = ProgressReporter(enabled: false)
        try trainer.fit(train: DataLoader(train, batchSize: 64, shuffle: true, seed: 0), epochs: 1)
        let evaluation = try trainer.evaluate(DataLoader(test, batchSize: 1000))
        #expect(try #require(evaluation.accuracy) > 0.95)
    }
}

@Suite struct MetricsTests {
    @Test func classificationReport() throws {
        let report = try Metrics.ClassificationReport(predictions: [0, 1, 1, 2, 2, 2], targets: [0, 1, 2, 2, 2, 1], classes: 3)
        #expect(report.confusion == [[1, 0, 0], [0, 1, 1], [0, 1, 2]])
        #expect(Swift.abs(report.accuracy - 4.0 / 6) < 1e-12)
        #expect(Swift.abs(report.precision[2] - 2.0 / 3) < 1e-12 && Swift.abs(report.recall[1] - 0.5) < 1e-12)
        #expect(Swift.abs(report.f1Macro - (1 + 0.5 + 2.0 / 3) / 3) < 1e-12)
        #expect(throws: CortexError.self) { try Metrics.ClassificationReport(predictions: [3], targets: [0], classes: 3) }
    }

    @Test func topKAndRegression() throws {
        let logits = try Tensor([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05]])
        #expect(try Metrics.accuracy(logits: logits, targets: Tensor(integers: [2, 0])) == 0.5)
        #expect(try Metrics.topK(logits: logits, targets: Tensor(integers: [2, 0]), k: 2) == 1)
        let (mse, mae, r2) = try Metrics.regression(predictions: Tensor([1, 2, 3]), targets: Tensor([1, 2, 4]))
        #expect(Swift.abs(mse - 1.0 / 3) < 1e-9 && Swift.abs(mae - 1.0 / 3) < 1e-9 && Swift.abs(r2 - (1 - 1.0 / (14.0 / 3))) < 1e-6)
    }
}
