import Testing
import CortexCore
@testable import CortexNN
import CortexTestSupport

@Suite struct SchedulerTests {
    static func optimizer() -> SGD { SGD([try! Tensor.zeros([1]).requiringGrad()], learningRate: 0.1) }

    /// Mirrors the schedule cases of Tools/make_nn_fixtures.py: learning rates after 12 steps.
    static func rates(_ name: String) throws -> [Float] {
        let optimizer = optimizer()
        if name == "plateau" {
            let schedule = try ReduceOnPlateau(optimizer, factor: 0.5, patience: 2, cooldown: 1)
            let metrics: [Float] = [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.5, 0.6, 0.7, 0.8, 0.9]
            return metrics.map { metric in
                schedule.step(metric: metric)
                return optimizer.learningRates[0]
            }
        }
        let schedule: LearningRateScheduler
        switch name {
        case "step": schedule = try StepDecay(optimizer, stepSize: 3, gamma: 0.5)
        case "multi_step": schedule = MultiStepDecay(optimizer, milestones: [2, 5, 9], gamma: 0.3)
        case "exponential": schedule = ExponentialDecay(optimizer, gamma: 0.8)
        case "cosine": schedule = try CosineAnnealing(optimizer, maximumSteps: 10, minimumLearningRate: 0.01)
        case "warmup_cosine": schedule = try WarmupCosine(optimizer, warmupSteps: 4, totalSteps: 12, startFactor: 0.25, minimumLearningRate: 0.001)
        default: throw CortexError.invalidArgument(operation: "schedule case", reason: "no Swift case for \(name)")
        }
        return (0..<12).map { _ in schedule.step(); return optimizer.learningRates[0] }
    }

    @Test(arguments: NNFixtures.cases("schedules"))
    func matchesTorchSchedulers(_ name: String) throws {
        let expected = try NNFixtures.file.tensor("schedule.\(name)")
        let failure = try closenessFailure(Tensor(SchedulerTests.rates(name)), expected, rtol: 1e-5, atol: 1e-7)
        #expect(failure == nil, "\(name): \(failure ?? "")")
    }

    @Test func stateRestoresTheSchedule() throws {
        let optimizer = SchedulerTests.optimizer()
        let schedule = try CosineAnnealing(optimizer, maximumSteps: 10)
        for _ in 0..<4 { schedule.step() }
        let other = SchedulerTests.optimizer()
        let restored = try CosineAnnealing(other, maximumSteps: 10)
        try restored.load(state: schedule.state)
        #expect(other.learningRates == optimizer.learningRates)
        #expect(throws: CortexError.self) { try restored.load(state: [:]) }
        #expect(throws: CortexError.self) { try StepDecay(optimizer, stepSize: 0) }
    }
}
