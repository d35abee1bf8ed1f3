extension Tensor {
    /// Updates this parameter (and `state`) in place by one fused step of `rule` given its
    /// gradient: one pass over memory instead of one temporary per arithmetic operation.
    /// Returns false, changing nothing, where the fused path does not apply (non-contiguous or
    /// non-float32 tensors, shape or device disagreement, a backend without the kernel); the
    /// caller then composes the same update from ordinary ops.
    ///
    /// ```swift
    /// let fused = try weight.applyOptimizerStep(.sgd(learningRate: 0.1, momentum: 0, dampening: 0, weightDecay: 0,
    ///                                                nesterov: false, maximize: false, firstStep: true),
    ///                                           gradient: weight.grad!, state: [])
    /// ```
    public func applyOptimizerStep(_ rule: OptimizerRule, gradient: Tensor, state: [Tensor]) throws -> Bool {
        let tensors = [self, gradient] + state
        guard state.count == rule.stateCount,
              tensors.allSatisfy({ $0.dtype == .float32 && $0.device == device && $0.shape == shape && $0.layout.isContiguous })
        else { return false }
        try checkInPlace("applyOptimizerStep")
        let applied = try backend.optimizerStep(rule, buffers: tensors.map { ($0.storage, $0.layout.offset) }, count: count)
        if applied { FLOPCounter.record(.optimizer, count * rule.operationsPerElement) }
        return applied
    }
}
