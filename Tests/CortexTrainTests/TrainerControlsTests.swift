import CortexCore
import CortexData
import CortexNN
import CortexTestSupport
import Foundation
import Testing

@testable import CortexTrain

/// Accumulation, clipping, schedules stepped per batch, ReduceLROnPlateau, monitors and the
/// step logs (JSON lines, TensorBoard, the step chart).
@Suite(.serialized) struct TrainerControlsTests {
    let directory: String = temporaryDirectory("cortex-trainer-controls")

    static func model() -> Sequential {
        Sequential(Linear(8, 16, generator: RandomGenerator(seed: 1)), Tanh(), Linear(16, 3, generator: RandomGenerator(seed: 2)))
    }

    static func trainer(_ model: Sequential, adam: Bool) -> Trainer {
        let optimizer: Optimizer = adam ? AdamW(model.parameters(), learningRate: 0.01, weightDecay: 0.01)
            : SGD(model.parameters(), learningRate: 0.1, momentum: 0.9)
        let trainer = Trainer(model: model, optimizer: optimizer, loss: { try Loss.crossEntropy($0, targets: $1) })
        trainer.progress = ProgressReporter(enabled: false)
        return trainer
    }

    static func data(_ count: Int = 256, seed: UInt64 = 5) throws -> TensorDataset {
        let inputs = try Tensor.randn([count, 8], generator: RandomGenerator(seed: seed))
        let projection = try Tensor.randn([8, 3], generator: RandomGenerator(seed: 99))
        return try TensorDataset(inputs: inputs, targets: inputs.matmul(projection).argmax(axis: 1))
    }

    /// 4 accumulated batches of 16 take the same optimizer steps as batches of 64: parameters
    /// within 1e-6 after 3 epochs of 4 steps, with SGD (momentum) and with AdamW.
    @Test(arguments: [false, true])
    func fourAccumulatedBatchesOf16StepAsOneOf64(adam: Bool) throws {
        let data = try TrainerControlsTests.data()
        let large = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: adam)
        try large.fit(train: DataLoader(data, batchSize: 64), epochs: 3)
        let accumulated = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: adam)
        accumulated.accumulationSteps = 4
        try accumulated.fit(train: DataLoader(data, batchSize: 16), epochs: 3)
        #expect(large.globalStep == 12 && accumulated.globalStep == 12)
        var largest: Float = 0
        for ((name, a), (_, b)) in zip(large.model.namedParameters(), accumulated.model.namedParameters()) {
            for (x, y) in zip(try a.toFloatArray(), try b.toFloatArray()) { largest = max(largest, Swift.abs(x - y)) }
            #expect(try closenessFailure(a, b, rtol: 0, atol: 1e-6) == nil, "\(name)")
        }
        #expect(largest <= 1e-6, "largest difference \(largest)")
        // The epoch's loss is the mean over examples either way.
        for (a, b) in zip(large.history, accumulated.history) { #expect(Swift.abs(a.trainLoss - b.trainLoss) <= 1e-5) }
    }

    /// An epoch of 5 batches with 2 per step ends on a window of one: 3 steps per epoch.
    @Test func aShortLastWindowStillSteps() throws {
        let trainer = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: false)
        trainer.accumulationSteps = 2
        try trainer.fit(train: DataLoader(try TrainerControlsTests.data(80), batchSize: 16), epochs: 2)
        #expect(trainer.globalStep == 6)
    }

    /// The trainer's clipping is clip_grad_norm_ / clip_grad_value_ between backward and the
    /// step: the same parameters as a hand-written loop that clips.
    @Test(arguments: [Trainer.GradientClip.norm(0.05), .norm(0.3, type: 1), .value(0.01)])
    func clippingHappensBeforeEachStep(_ clip: Trainer.GradientClip) throws {
        let data = try TrainerControlsTests.data(128)
        let trainer = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: false)
        trainer.gradientClipping = clip
        try trainer.fit(train: DataLoader(data, batchSize: 32), epochs: 2)

        let model = TrainerControlsTests.model()
        let optimizer = SGD(model.parameters(), learningRate: 0.1, momentum: 0.9)
        for _ in 0..<2 {
            try DataLoader(data, batchSize: 32).epoch(0).forEachBatch { batch in
                optimizer.zeroGrad()
                try Loss.crossEntropy(model(batch.inputs), targets: batch.targets).backward()
                switch clip {
                case .norm(let maximum, let type): try GradientClipping.clipNorm(model.parameters(), maxNorm: maximum, normType: type)
                case .value(let value): try GradientClipping.clipValue(model.parameters(), value: value)
                }
                try optimizer.step()
            }
        }
        for ((name, a), (_, b)) in zip(trainer.model.namedParameters(), model.namedParameters()) {
            #expect(try a.toFloatArray() == b.toFloatArray(), "\(name)")
        }
    }

    /// A schedule stepped per optimizer step advances once per step, and cosine reaches its floor
    /// at the end of the run.
    @Test func schedulesStepPerBatch() throws {
        let trainer = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: false)
        let schedule = try CosineAnnealing(trainer.optimizer, maximumSteps: 16, minimumLearningRate: 0.001)
        trainer.scheduler = schedule
        trainer.schedulerInterval = .step
        try trainer.fit(train: DataLoader(try TrainerControlsTests.data(), batchSize: 32), epochs: 2)
        #expect(schedule.stepCount == 16)
        #expect(Swift.abs(trainer.optimizer.learningRates[0] - 0.001) < 1e-7)
    }

    /// ReduceLROnPlateau watching the validation loss: the rate falls when it stalls (here with
    /// a learning rate too large to improve it), and a checkpoint restores the plateau's state.
    @Test func plateauCutsTheRateOnTheMonitoredMetric() throws {
        let train = try TrainerControlsTests.data(), validation = try TrainerControlsTests.data(128, seed: 6)
        func make() throws -> Trainer {
            let trainer = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: false)
            trainer.plateau = try ReduceOnPlateau(trainer.optimizer, mode: .maximize, factor: 0.5, patience: 0, threshold: 10)
            trainer.monitor = try Monitor("val_accuracy")
            return trainer
        }
        let trainer = try make()
        try trainer.fit(train: DataLoader(train, batchSize: 32), validation: DataLoader(validation, batchSize: 64), epochs: 3)
        // A relative threshold of 10 means no epoch improves on the first: the rate halves each later epoch.
        #expect(trainer.optimizer.learningRates[0] == 0.025)
        try trainer.saveCheckpoint(to: directory + "/plateau")
        let resumed = try make()
        try resumed.loadCheckpoint(from: directory + "/plateau")
        #expect(resumed.optimizer.learningRates[0] == 0.025)
        #expect(resumed.plateau?.best == trainer.plateau?.best)

        let blind = try make()
        #expect(throws: CortexError.self) { try blind.fit(train: DataLoader(train, batchSize: 32), epochs: 1) }
        let both = try make()
        both.scheduler = try StepDecay(both.optimizer, stepSize: 1)
        #expect(throws: CortexError.self) {
            try both.fit(train: DataLoader(train, batchSize: 32), validation: DataLoader(validation, batchSize: 64), epochs: 1)
        }
    }

    /// Early stopping and best checkpoints watch validation only: without a validation set they
    /// refuse to start; an accuracy monitor keeps the epoch of highest validation accuracy.
    @Test func monitorsWatchValidationOnly() throws {
        let train = try TrainerControlsTests.data(), validation = try TrainerControlsTests.data(128, seed: 6)
        let blind = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: false)
        blind.callbacks = [EarlyStopping(patience: 2)]
        do {
            try blind.fit(train: DataLoader(train, batchSize: 32), epochs: 1)
            Issue.record("early stopping ran without a validation set")
        } catch let error as CortexError {
            #expect(error.description.contains("val_loss") && error.description.contains("no validation set"), "\(error)")
        }
        let trainer = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: false)
        let best = BestCheckpoint(directory: directory + "/best", monitor: try Monitor("val_accuracy"))
        trainer.callbacks = [best]
        try trainer.fit(train: DataLoader(train, batchSize: 32, shuffle: true, seed: 3), validation: DataLoader(validation, batchSize: 64), epochs: 4)
        let accuracies = trainer.history.map { $0.validationAccuracy! }
        let bestEpoch = accuracies.indices.max { accuracies[$0] < accuracies[$1] || (accuracies[$0] == accuracies[$1] && $0 > $1) }! + 1
        #expect(best.bestEpoch == bestEpoch && best.best == accuracies[bestEpoch - 1])
        #expect(Trainer.checkpointEpoch(directory + "/best") == bestEpoch)
        #expect(throws: CortexError.self) { try Monitor("validation_loss") }
        #expect(try Monitor("val_accuracy").mode == .max && Monitor("train_loss").mode == .min)
    }

    /// A resumed run's early stopping counts the epochs before the checkpoint: the same epoch
    /// stops it as in an uninterrupted run.
    @Test func earlyStoppingCountsOnAfterResuming() throws {
        let train = try TrainerControlsTests.data(), validation = try TrainerControlsTests.data(128, seed: 6)
        func make() -> Trainer {
            let trainer = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: false)
            // A learning rate this large does not keep improving the validation loss.
            trainer.optimizer.learningRates = [3]
            trainer.callbacks = [EarlyStopping(patience: 2)]
            return trainer
        }
        let straight = make()
        try straight.fit(train: DataLoader(train, batchSize: 32), validation: DataLoader(validation, batchSize: 64), epochs: 30)
        let stoppedAt = straight.history.count
        #expect(stoppedAt < 30)
        let first = make()
        try first.fit(train: DataLoader(train, batchSize: 32), validation: DataLoader(validation, batchSize: 64), epochs: stoppedAt - 1)
        try first.saveCheckpoint(to: directory + "/early")
        let resumed = make()
        try resumed.loadCheckpoint(from: directory + "/early")
        try resumed.fit(train: DataLoader(train, batchSize: 32), validation: DataLoader(validation, batchSize: 64), epochs: 30)
        #expect(resumed.history.count == stoppedAt, "stopped at \(resumed.history.count), uninterrupted at \(stoppedAt)")
    }

    /// Step logs every 3 steps go to JSON lines and a TensorBoard event file with the same
    /// scalars, and the checkpoint gains the loss-by-step chart with epoch markers.
    @Test func stepLogsReachJSONLinesAndTensorBoard() throws {
        let logs = directory + "/logs"
        let trainer = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: false)
        trainer.gradientClipping = .norm(1)
        trainer.logEveryNSteps = 3
        let lines = try JSONLinesLogger(path: logs + "/steps.jsonl"), board = try TensorBoardLogger(directory: logs)
        trainer.loggers = [lines, board]
        try trainer.fit(train: DataLoader(try TrainerControlsTests.data(), batchSize: 32),
                        validation: DataLoader(try TrainerControlsTests.data(64, seed: 6), batchSize: 64), epochs: 2)
        #expect(trainer.stepHistory.map(\.step) == [3, 6, 9, 12, 15])
        #expect(trainer.stepHistory.allSatisfy { $0.gradientNorm != nil && $0.samplesPerSecond > 0 && $0.learningRate == Double(Float(0.1)) })

        let json = try JSONLinesLogger.read(lines.path)
        let events = try TensorBoardRecords.read(board.writer.path)
        #expect(events.first?.fileVersion == "brain.Event:2")
        let scalarEvents = Array(events.dropFirst())
        #expect(json.count == 7 && scalarEvents.count == 7)     // 5 step logs and 2 epoch ends
        for (line, event) in zip(json, scalarEvents) {
            #expect(line["step"].map { Int($0) } == event.step)
            for (tag, value) in event.scalars { #expect(line[tag].map { Float($0) } == value, "\(tag) at step \(event.step)") }
            #expect(Set(line.keys).subtracting(["step", "epoch", "wall_time"]) == Set(event.scalars.map(\.tag)))
        }
        #expect(json[2]["epoch/val_loss"] != nil && json[2]["step"] == 8)
        #expect(json[0]["train/gradient_norm"] != nil && json[0]["train/loss"] != nil)

        try trainer.saveCheckpoint(to: directory + "/checkpoint")
        let chart = try String(contentsOfFile: directory + "/checkpoint/" + TrainingCurves.stepChartName, encoding: .utf8)
        #expect(chart.contains("epoch 1") && chart.contains("epoch 2") && chart.contains("optimizer step"))
        let resumed = TrainerControlsTests.trainer(TrainerControlsTests.model(), adam: false)
        try resumed.loadCheckpoint(from: directory + "/checkpoint")
        #expect(resumed.globalStep == 16 && resumed.stepHistory == trainer.stepHistory)
    }

    /// The record framing is TensorFlow's: CRC-32C's check value, and a corrupted byte is a
    /// typed error naming the record.
    @Test func eventFilesAreCheckedRecords() throws {
        #expect(TensorBoardRecords.crc32c(Array("123456789".utf8)) == 0xE306_9283)
        let writer = try TensorBoardWriter(directory: directory + "/board")
        try writer.add(scalars: [("a", 1.5), ("b/c", -2)], step: 7, wallTime: 100.25)
        let events = try TensorBoardRecords.read(writer.path)
        #expect(events.count == 2 && events[1] == TensorBoardEvent(wallTime: 100.25, step: 7, scalars: [("a", 1.5), ("b/c", -2)]))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: writer.path)))
        bytes[bytes.count - 6] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: writer.path))
        do {
            _ = try TensorBoardRecords.read(writer.path)
            Issue.record("a corrupted record was read")
        } catch let error as CortexError {
            #expect(error.description.contains("CRC"), "\(error)")
        }
    }
}
