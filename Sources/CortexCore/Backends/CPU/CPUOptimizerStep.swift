import CCortexKernels
import Foundation

extension CPUBackend {
    public func optimizerStep(_ rule: OptimizerRule, buffers: [(storage: Storage, offset: Int)], count: Int) throws -> Bool {
        guard buffers.count == 2 + rule.stateCount, buffers.allSatisfy({ $0.storage.dtype == .float32 }) else { return false }
        let pointers = UncheckedSendable(buffers.map { $0.storage.floats() + $0.offset })
        // Each piece updates its own elements: the split cannot change any result.
        CPUParallelism.forEachRange(count, grain: 1 << 14) { range in
            let base = pointers.value.map { $0 + range.lowerBound }
            let n = range.count
            switch rule {
            case let .sgd(learningRate, momentum, dampening, weightDecay, nesterov, maximize, firstStep):
                cortex_sgd_step(base[0], base[1], momentum == 0 ? nil : base[2], n, learningRate, momentum, dampening, weightDecay,
                                nesterov ? 1 : 0, maximize ? 1 : 0, firstStep ? 1 : 0)
            case let .adam(learningRate, beta1, beta2, epsilon, weightDecay, decoupled, amsgrad, step):
                let correction1 = 1 - Foundation.pow(Double(beta1), Double(step))
                let correction2 = 1 - Foundation.pow(Double(beta2), Double(step))
                cortex_adam_step(base[0], base[1], base[2], base[3], amsgrad ? base[4] : nil, n, learningRate, beta1, beta2, epsilon,
                                 weightDecay, decoupled ? 1 : 0, Float(Double(learningRate) / correction1),
                                 Float(1 / correction2.squareRoot()))
            }
        }
        withExtendedLifetime(buffers) {}
        return true
    }
}
