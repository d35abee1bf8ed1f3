/// Matrix products with NumPy/PyTorch `matmul` rules: 1-D operands are promoted (and the added
/// axis removed after), leading batch axes broadcast.
///
/// ```swift
/// let y = try x.matmul(weight.mT)     // (B, T, C) x (C, D) -> (B, T, D), no transpose copy
/// ```
extension Tensor {
    public func matmul(_ other: Tensor) throws -> Tensor {
        if dtype == .bfloat16 && other.dtype == .bfloat16 { return try bfloat16Matmul(other) }
        try requireFloat32("matmul")
        try other.requireFloat32("matmul")
        try requireSameDevice(other, "matmul")
        guard rank >= 1, other.rank >= 1 else {
            throw CortexError.shapeMismatch(operation: "matmul", shapes: [shape, other.shape], reason: "need at least one axis each")
        }
        if rank == 1 && other.rank == 1 { return try unsqueeze(0).matmul(other.unsqueeze(1)).reshape([]) }
        if rank == 1 { return try unsqueeze(0).matmul(other).squeeze(-2) }
        if other.rank == 1 { return try matmul(other.unsqueeze(1)).squeeze(-1) }
        let M = shape[rank - 2], K = shape[rank - 1]
        let otherK = other.shape[other.rank - 2], N = other.shape[other.rank - 1]
        guard K == otherK else {
            throw CortexError.shapeMismatch(operation: "matmul", shapes: [shape, other.shape],
                                            reason: "(inner dimensions \(K) and \(otherK) differ)")
        }
        let batch = try Shapes.broadcast(Array(shape.dropLast(2)), Array(other.shape.dropLast(2)), operation: "matmul")
        let precision = Autocast.precision
        let output: Tensor
        if precision == .bfloat16 && (device != .cpu || !Autocast.hasBFloat16Kernel) {
            // No bfloat16 kernel: the same values from operands rounded into float32 copies.
            output = try Autocast.run(.float32) { try detach().roundedToBFloat16().matmul(other.detach().roundedToBFloat16()) }
        } else {
            output = try Tensor.empty(batch + [M, N], device: device)
            try backend.matmul(storage, layout, other.storage, other.layout, outputShape: output.shape, precision: precision, into: output.storage)
            FLOPCounter.record(.matmul, 2 * output.count * K)
        }
        let left = detach(), right = other.detach()
        // The gradient products run in the precision the forward product ran in.
        return output.recorded("matmul", [self, other]) { gradient, needed in
            try Autocast.run(precision) {
                [needed[0] ? try gradient.matmul(right.mT).sumToShape(left.shape) : nil,
                 needed[1] ? try Tensor.rightOperandGradient(left: left, right: right, gradient: gradient) : nil]
            }
        }
    }

    /// float32 values rounded to the nearest bfloat16 (ties to even), still float32.
    func roundedToBFloat16() throws -> Tensor { try to(.bfloat16).to(.float32) }

    /// d(left @ right)/d(right) = left^T @ gradient, computed so that it comes out in
    /// `right`'s memory order (as PyTorch does): for a transposed view such as Linear's
    /// `weight.mT` it is formed as (gradient^T @ left)^T, so the weight's gradient is
    /// contiguous with no transpose copy. A 2-D `right` shared by a batch of `left`
    /// matrices gets one product over the folded batch instead of one per matrix and a sum.
    static func rightOperandGradient(left: Tensor, right: Tensor, gradient: Tensor) throws -> Tensor {
        var left = left, gradient = gradient
        if right.rank == 2 && left.rank > 2 {
            left = try left.reshape([-1, left.shape[left.rank - 1]])
            gradient = try gradient.reshape([-1, gradient.shape[gradient.rank - 1]])
        }
        let strides = right.layout.strides
        let transposedView = right.rank >= 2 && right.shape[right.rank - 2] > 1 && strides[right.rank - 2] == 1
            && strides[right.rank - 1] == right.shape[right.rank - 2]
        if transposedView {
            return try gradient.mT.matmul(left).mT.sumToShape(right.shape)
        }
        return try left.mT.matmul(gradient).sumToShape(right.shape)
    }
}
