import CortexCore
import CortexNN

/// Called by ``Trainer`` after every optimizer step.
public protocol TrainingStepCallback: AnyObject {
    func stepEnded(_ step: Int, trainer: Trainer) throws
}

/// Zhu & Gupta 2017's gradual pruning, during training: every `frequency` steps from
/// `beginStep` to `endStep` the weights are pruned by magnitude to
/// s_t = s_f + (s_i − s_f)(1 − (t − t₀)/(n Δt))³, so most is pruned early, while the network
/// still has capacity to recover, and little near the end.
///
/// ```swift
/// let schedule = try GradualPruning(Pruning.weights(of: model), finalSparsity: 0.9, beginStep: 0, endStep: 2000, frequency: 100)
/// trainer.stepCallbacks.append(schedule)
/// try trainer.fit(train: loader, epochs: 5)
/// ```
public final class GradualPruning: TrainingStepCallback {
    public let parameters: [(module: Module, name: String)]
    public let initialSparsity: Double, finalSparsity: Double
    public let beginStep: Int, endStep: Int, frequency: Int
    public let method: Pruning.SparsityMethod

    public init(_ parameters: [(module: Module, name: String)], initialSparsity: Double = 0, finalSparsity: Double, beginStep: Int, endStep: Int,
                frequency: Int, method: Pruning.SparsityMethod = .l1) throws {
        guard initialSparsity >= 0, finalSparsity <= 1, initialSparsity <= finalSparsity else {
            throw CortexError.invalidArgument(operation: "GradualPruning", reason: "sparsities \(initialSparsity) -> \(finalSparsity) must rise within [0, 1]")
        }
        guard beginStep >= 0, endStep > beginStep, frequency > 0 else {
            throw CortexError.invalidArgument(operation: "GradualPruning", reason: "steps \(beginStep)...\(endStep) every \(frequency) must be a range of steps")
        }
        (self.parameters, self.initialSparsity, self.finalSparsity) = (parameters, initialSparsity, finalSparsity)
        (self.beginStep, self.endStep, self.frequency, self.method) = (beginStep, endStep, frequency, method)
    }

    /// The schedule's sparsity after `step` steps (it holds between pruning steps).
    public func sparsity(at step: Int) -> Double {
        guard step >= beginStep else { return 0 }
        let last = beginStep + (min(step, endStep) - beginStep) / frequency * frequency
        let progress = min(Double(last - beginStep) / Double(endStep - beginStep), 1)
        let cube = (1 - progress) * (1 - progress) * (1 - progress)
        return finalSparsity + (initialSparsity - finalSparsity) * (step >= endStep ? 0 : cube)
    }

    public func stepEnded(_ step: Int, trainer: Trainer) throws {
        guard step >= beginStep, (step - beginStep) % frequency == 0 || step == endStep, step <= endStep else { return }
        try Pruning.prune(parameters, toSparsity: sparsity(at: step), method: method)
    }
}
