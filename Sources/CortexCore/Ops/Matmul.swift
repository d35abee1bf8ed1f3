/// Matrix products with NumPy/PyTorch `matmul` rules: 1-D operands are promoted (and the added
/// axis removed after), leading batch axes broadcast.
///
/// ```swift
/// let y = try x.matmul(weight.mT)     // (B, T, C) x (C, D) -> (B, T, D), no transpose copy
/// ```
extension Tensor {
    public func matmul(_ other: Tensor) throws -> Tensor {
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
        let output = try Tensor.empty(batch + [M, N], device: device)
        try backend.matmul(storage, layout, other.storage, other.layout, outputShape: output.shape, into: output.storage)
        let left = detach(), right = other.detach()
        return output.recorded("matmul", [self, other]) { gradient in
            [try gradient.matmul(right.mT).sumToShape(left.shape), try left.mT.matmul(gradient).sumToShape(right.shape)]
        }
    }
}
