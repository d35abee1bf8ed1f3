import CortexCore
import Foundation

/// A learning-rate schedule driving an ``Optimizer``'s per-group learning rates, as
/// `torch.optim.lr_scheduler`: call ``step()`` once per epoch (or per iteration for warm-up
/// schedules) after `optimizer.step()`.
///
/// ```swift
/// let optimizer = SGD(model.parameters(), learningRate: 0.1, momentum: 0.9)
/// let schedule = CosineAnnealing(optimizer, maximumSteps: 50)
/// for epoch in 0..<50 { ...; schedule.step() }
/// ```
open class LearningRateScheduler: @unchecked Sendable {
    public let optimizer: Optimizer
    /// The learning rates the optimizer started with, per group.
    public let baseLearningRates: [Float]
    /// Completed steps (PyTorch's `last_epoch`).
    public private(set) var stepCount = 0

    public init(_ optimizer: Optimizer) {
        self.optimizer = optimizer
        self.baseLearningRates = optimizer.learningRates
    }

    /// The learning rate of group `group` after `step` steps (closed form).
    open func learningRate(group: Int, step: Int) -> Float {
        baseLearningRates[group]
    }

    /// Advances one step and writes the new learning rates into the optimizer.
    open func step() {
        stepCount += 1
        optimizer.learningRates = baseLearningRates.indices.map { learningRate(group: $0, step: stepCount) }
    }

    /// Scheduler state for checkpoints.
    open var state: [String: String] { ["step_count": String(stepCount)] }

    /// Restores `state` and the learning rates it implies.
    open func load(state: [String: String]) throws {
        guard let text = state["step_count"], let count = Int(text), count >= 0 else {
            throw CortexError.invalidArgument(operation: "LearningRateScheduler.load", reason: "state has no valid step_count: \(state)")
        }
        stepCount = count
        optimizer.learningRates = baseLearningRates.indices.map { learningRate(group: $0, step: stepCount) }
    }
}

/// Multiplies by `gamma` every `stepSize` steps (`StepLR`).
public final class StepDecay: LearningRateScheduler, @unchecked Sendable {
    public let stepSize: Int, gamma: Float
    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Float = 0.1) throws {
        guard stepSize > 0 else { throw CortexError.invalidArgument(operation: "StepDecay", reason: "step size \(stepSize) must be positive") }
        (self.stepSize, self.gamma) = (stepSize, gamma)
        super.init(optimizer)
    }
    public override func learningRate(group: Int, step: Int) -> Float {
        baseLearningRates[group] * Float(Foundation.pow(Double(gamma), Double(step / stepSize)))
    }
}

/// Multiplies by `gamma` at each milestone step (`MultiStepLR`).
public final class MultiStepDecay: LearningRateScheduler, @unchecked Sendable {
    public let milestones: [Int], gamma: Float
    public init(_ optimizer: Optimizer, milestones: [Int], gamma: Float = 0.1) {
        (self.milestones, self.gamma) = (milestones.sorted(), gamma)
        super.init(optimizer)
    }
    public override func learningRate(group: Int, step: Int) -> Float {
        baseLearningRates[group] * Float(Foundation.pow(Double(gamma), Double(milestones.filter { $0 <= step }.count)))
    }
}

/// Multiplies by `gamma` every step (`ExponentialLR`).
public final class ExponentialDecay: LearningRateScheduler, @unchecked Sendable {
    public let gamma: Float
    public init(_ optimizer: Optimizer, gamma: Float) {
        self.gamma = gamma
        super.init(optimizer)
    }
    public override func learningRate(group: Int, step: Int) -> Float {
        baseLearningRates[group] * Float(Foundation.pow(Double(gamma), Double(step)))
    }
}

/// Cosine from the base rate down to `minimumLearningRate` over `maximumSteps`
/// (`CosineAnnealingLR` closed form): eta_min + (base - eta_min)(1 + cos(pi t / T)) / 2.
public final class CosineAnnealing: LearningRateScheduler, @unchecked Sendable {
    public let maximumSteps: Int, minimumLearningRate: Float
    public init(_ optimizer: Optimizer, maximumSteps: Int, minimumLearningRate: Float = 0) throws {
        guard maximumSteps > 0 else {
            throw CortexError.invalidArgument(operation: "CosineAnnealing", reason: "maximum steps \(maximumSteps) must be positive")
        }
        (self.maximumSteps, self.minimumLearningRate) = (maximumSteps, minimumLearningRate)
        super.init(optimizer)
    }
    public override func learningRate(group: Int, step: Int) -> Float {
        let progress = Double(step) / Double(maximumSteps)
        let base = Double(baseLearningRates[group]), minimum = Double(minimumLearningRate)
        return Float(minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * progress)) / 2)
    }
}

/// Linear warm-up from `startFactor` x base to base over `warmupSteps`, then cosine decay to
/// `minimumLearningRate` at `totalSteps` (the usual transformer schedule; in PyTorch a
/// `SequentialLR` of `LinearLR` and `CosineAnnealingLR`).
public final class WarmupCosine: LearningRateScheduler, @unchecked Sendable {
    public let warmupSteps: Int, totalSteps: Int, startFactor: Float, minimumLearningRate: Float
    public init(_ optimizer: Optimizer, warmupSteps: Int, totalSteps: Int, startFactor: Float = 1.0 / 3,
                minimumLearningRate: Float = 0) throws {
        guard warmupSteps >= 0, totalSteps > warmupSteps else {
            throw CortexError.invalidArgument(operation: "WarmupCosine", reason: "need 0 <= warmup steps (\(warmupSteps)) < total steps (\(totalSteps))")
        }
        (self.warmupSteps, self.totalSteps, self.startFactor, self.minimumLearningRate) = (warmupSteps, totalSteps, startFactor, minimumLearningRate)
        super.init(optimizer)
    }
    public override func learningRate(group: Int, step: Int) -> Float {
        let base = Double(baseLearningRates[group])
        if step < warmupSteps {
            let factor = Double(startFactor) + (1 - Double(startFactor)) * Double(step) / Double(warmupSteps)
            return Float(base * factor)
        }
        let progress = Double(min(step - warmupSteps, totalSteps - warmupSteps)) / Double(totalSteps - warmupSteps)
        let minimum = Double(minimumLearningRate)
        return Float(minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * progress)) / 2)
    }
}

/// Multiplies the learning rates by `factor` when a metric stops improving for `patience`
/// epochs (`ReduceLROnPlateau` with its relative threshold). Call ``step(metric:)`` with the
/// validation metric each epoch.
public final class ReduceOnPlateau: @unchecked Sendable {
    public enum Mode: String, Sendable { case minimize, maximize }
    public let optimizer: Optimizer
    public let mode: Mode, factor: Float, patience: Int, threshold: Float, cooldown: Int, minimumLearningRate: Float
    public private(set) var best: Float
    private(set) var badEpochs = 0
    private(set) var cooldownLeft = 0

    public init(_ optimizer: Optimizer, mode: Mode = .minimize, factor: Float = 0.1, patience: Int = 10, threshold: Float = 1e-4,
                cooldown: Int = 0, minimumLearningRate: Float = 0) throws {
        guard factor < 1, factor > 0 else {
            throw CortexError.invalidArgument(operation: "ReduceOnPlateau", reason: "factor \(factor) must be in (0, 1)")
        }
        self.optimizer = optimizer
        (self.mode, self.factor, self.patience, self.threshold) = (mode, factor, patience, threshold)
        (self.cooldown, self.minimumLearningRate) = (cooldown, minimumLearningRate)
        self.best = mode == .minimize ? .infinity : -.infinity
    }

    public func step(metric: Float) {
        let improved = mode == .minimize ? metric < best * (1 - threshold) : metric > best * (1 + threshold)
        if improved { best = metric; badEpochs = 0 } else { badEpochs += 1 }
        if cooldownLeft > 0 { cooldownLeft -= 1; badEpochs = 0 }
        if badEpochs > patience {
            optimizer.learningRates = optimizer.learningRates.map { rate in
                let reduced = Swift.max(rate * factor, minimumLearningRate)
                return rate - reduced > 1e-8 ? reduced : rate
            }
            cooldownLeft = cooldown
            badEpochs = 0
        }
    }

    public var state: [String: String] {
        ["best": String(best), "bad_epochs": String(badEpochs), "cooldown_left": String(cooldownLeft),
         "learning_rates": optimizer.learningRates.map { String($0) }.joined(separator: ",")]
    }

    public func load(state: [String: String]) throws {
        guard let best = state["best"].flatMap(Float.init), let bad = state["bad_epochs"].flatMap(Int.init),
              let cooldownLeft = state["cooldown_left"].flatMap(Int.init),
              let rates = state["learning_rates"]?.split(separator: ",").compactMap({ Float($0) }),
              rates.count == optimizer.learningRates.count else {
            throw CortexError.invalidArgument(operation: "ReduceOnPlateau.load", reason: "incomplete state \(state)")
        }
        (self.best, self.badEpochs, self.cooldownLeft) = (best, bad, cooldownLeft)
        optimizer.learningRates = rates
    }
}
