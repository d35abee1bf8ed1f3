import CortexCore
import CortexData
import CortexNN
import CortexTestSupport
import CortexTrain
import Testing

/// Zhu & Gupta's gradual pruning inside the trainer: the cubic schedule, and the weights at the
/// final sparsity once training passes the end step, still learning.
@Suite struct GradualPruningTests {
    @Test func followsTheCubicScheduleWhileTraining() throws {
        let model = Sequential(Linear(8, 32, generator: RandomGenerator(seed: 1)), ReLU(), Linear(32, 3, generator: RandomGenerator(seed: 2)))
        let schedule = try GradualPruning(Pruning.weights(of: model), finalSparsity: 0.8, beginStep: 10, endStep: 70, frequency: 10)
        #expect(schedule.sparsity(at: 5) == 0)
        #expect(schedule.sparsity(at: 10) == 0)
        #expect(abs(schedule.sparsity(at: 40) - 0.8 * (1 - 0.125)) < 1e-12)
        #expect(abs(schedule.sparsity(at: 45) - 0.8 * (1 - 0.125)) < 1e-12)
        #expect(schedule.sparsity(at: 70) == 0.8 && schedule.sparsity(at: 500) == 0.8)
        let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), learningRate: 0.01), loss: { try Loss.crossEntropy($0, targets: $1) })
        trainer.progress = ProgressReporter(enabled: false)
        trainer.stepCallbacks = [schedule]
        try trainer.fit(train: DataLoader(TrainerTests.syntheticData(seed: 5), batchSize: 32, shuffle: true, seed: 1),
                        validation: DataLoader(TrainerTests.syntheticData(seed: 6), batchSize: 100), epochs: 6)
        let report = try Pruning.sparsity(of: model)
        #expect(report.rows.filter { $0.name.hasSuffix("weight") }.allSatisfy { abs($0.sparsity - 0.8) < 0.01 })
        #expect(try #require(trainer.history.last?.validationAccuracy) > 0.8)
        expectCortexError(["0.9 -> 0.5"]) { _ = try GradualPruning([], initialSparsity: 0.9, finalSparsity: 0.5, beginStep: 0, endStep: 5, frequency: 1) }
    }
}
