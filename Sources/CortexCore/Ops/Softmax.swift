/// Numerically stable softmax and log-softmax along one axis, each a fused kernel with its own
/// backward: y = exp(x - max) / sum, and log y = x - max - log(sum exp(x - max)).
///
/// ```swift
/// let probabilities = try logits.softmax(axis: -1)
/// ```
extension Tensor {
    public func softmax(axis: Int = -1) throws -> Tensor {
        try softmaxFamily(axis: axis, logarithm: false)
    }

    public func logSoftmax(axis: Int = -1) throws -> Tensor {
        try softmaxFamily(axis: axis, logarithm: true)
    }

    private func softmaxFamily(axis: Int, logarithm: Bool) throws -> Tensor {
        let name = logarithm ? "logSoftmax" : "softmax"
        try requireFloat32(name)
        if rank == 0 { return try reshape([1]).softmaxFamily(axis: 0, logarithm: logarithm).reshape([]) }
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: name)
        let last = rank - 1
        // The kernel works on contiguous rows: move `axis` last, then back.
        let moved = resolved == last ? detach() : try detach().transpose(resolved, last)
        let rows = try moved.contiguous()
        let columns = rows.shape[last]
        let rowCount = rows.count / Swift.max(columns, 1)
        let output = try Tensor.empty(rows.shape, device: device)
        try backend.softmax(rows.storage, rows: rowCount, columns: columns, logarithm: logarithm, into: output.storage)
        FLOPCounter.record(.softmax, output.count)
        let result = resolved == last ? output : try output.transpose(resolved, last)
        let backend = self.backend
        return result.recorded(name, [self]) { gradient in
            let movedGradient = try (resolved == last ? gradient : gradient.transpose(resolved, last)).contiguous()
            let inputGradient = try Tensor.empty(rows.shape, device: gradient.device)
            try backend.softmaxBackward(output: output.storage, gradient: movedGradient.storage, rows: rowCount,
                                        columns: columns, logarithm: logarithm, into: inputGradient.storage)
            FLOPCounter.record(.softmax, inputGradient.count)
            return [resolved == last ? inputGradient : try inputGradient.transpose(resolved, last)]
        }
    }
}
