/// Joining and splitting along an axis: cat, stack, split, chunk, and constant padding.
extension Tensor {
    /// Concatenates tensors along `axis`; all other sizes must agree, as `torch.cat`.
    ///
    /// ```swift
    /// let both = try Tensor.cat([a, b], axis: 0)
    /// ```
    public static func cat(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = tensors.first else {
            throw CortexError.invalidArgument(operation: "cat", reason: "needs at least one tensor")
        }
        let resolved = try Shapes.normalize(axis: axis, rank: first.rank, operation: "cat")
        for tensor in tensors {
            var expected = first.shape, actual = tensor.shape
            guard expected.count == actual.count else {
                throw CortexError.shapeMismatch(operation: "cat", shapes: [first.shape, tensor.shape], reason: "have different ranks")
            }
            expected[resolved] = 0
            actual[resolved] = 0
            guard expected == actual else {
                throw CortexError.shapeMismatch(operation: "cat", shapes: [first.shape, tensor.shape],
                                                reason: "differ outside axis \(axis)")
            }
            guard tensor.dtype == first.dtype else {
                throw CortexError.dtypeMismatch(operation: "cat", expected: first.dtype.rawValue, got: tensor.dtype.rawValue)
            }
            try first.requireSameDevice(tensor, "cat")
        }
        var outputShape = first.shape
        outputShape[resolved] = tensors.reduce(0) { $0 + $1.shape[resolved] }
        let output = try empty(outputShape, dtype: first.dtype, device: first.device)
        var start = 0
        var bounds: [Range<Int>] = []
        for tensor in tensors {
            let size = tensor.shape[resolved]
            let target = try output.slice(axis: resolved, start: start, end: start + size)
            try first.backend.copy(tensor.storage, tensor.layout, to: target.storage, target.layout)
            bounds.append(start..<(start + size))
            start += size
        }
        return output.recorded("cat", tensors) { gradient in
            try bounds.map { try gradient.slice(axis: resolved, start: $0.lowerBound, end: $0.upperBound) }
        }
    }

    /// Stacks equally shaped tensors along a new axis, as `torch.stack`.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = tensors.first else {
            throw CortexError.invalidArgument(operation: "stack", reason: "needs at least one tensor")
        }
        for tensor in tensors where tensor.shape != first.shape {
            throw CortexError.shapeMismatch(operation: "stack", shapes: [first.shape, tensor.shape], reason: "differ")
        }
        let resolved = try Shapes.normalize(axis: axis, rank: first.rank + 1, operation: "stack")
        return try cat(tensors.map { try $0.unsqueeze(resolved) }, axis: resolved)
    }

    /// Splits into pieces of `sizes` along `axis` (the sizes must add up), as `torch.split`.
    public func split(sizes: [Int], axis: Int = 0) throws -> [Tensor] {
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: "split")
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == shape[resolved] else {
            throw CortexError.invalidArgument(operation: "split", reason: "sizes \(sizes) do not add up to \(shape[resolved]) along axis \(axis)")
        }
        var start = 0
        return try sizes.map { size in
            defer { start += size }
            return try slice(axis: resolved, start: start, end: start + size)
        }
    }

    /// Splits into pieces of `size` along `axis` (the last may be smaller).
    public func split(size: Int, axis: Int = 0) throws -> [Tensor] {
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: "split")
        guard size > 0 else { throw CortexError.invalidArgument(operation: "split", reason: "piece size \(size) must be positive") }
        let total = shape[resolved]
        let sizes = stride(from: 0, to: total, by: size).map { Swift.min(size, total - $0) }
        return try split(sizes: sizes.isEmpty ? [0] : sizes, axis: resolved)
    }

    /// Splits into `count` nearly equal pieces along `axis`, as `torch.chunk`.
    public func chunk(_ count: Int, axis: Int = 0) throws -> [Tensor] {
        guard count > 0 else { throw CortexError.invalidArgument(operation: "chunk", reason: "chunk count \(count) must be positive") }
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: "chunk")
        let size = (shape[resolved] + count - 1) / count
        return try split(size: Swift.max(size, 1), axis: resolved)
    }

    /// Pads with a constant, as `torch.nn.functional.pad`: `widths` lists (before, after)
    /// pairs starting from the last axis.
    ///
    /// ```swift
    /// let padded = try image.pad([1, 1, 2, 2])   // last axis by 1 on each side, the one before by 2
    /// ```
    public func pad(_ widths: [Int], value: Float = 0) throws -> Tensor {
        guard widths.count % 2 == 0, widths.count / 2 <= rank, widths.allSatisfy({ $0 >= 0 }) else {
            throw CortexError.invalidArgument(operation: "pad", reason: "widths \(widths) must be non-negative (before, after) pairs for at most \(rank) axes")
        }
        var outputShape = shape
        var interior: [(axis: Int, start: Int, end: Int)] = []
        for pair in 0..<(widths.count / 2) {
            let axis = rank - 1 - pair
            outputShape[axis] += widths[2 * pair] + widths[2 * pair + 1]
            interior.append((axis, widths[2 * pair], widths[2 * pair] + shape[axis]))
        }
        try requireFloat32("pad")
        let output = try Tensor.full(outputShape, value: Double(value), device: device)
        var target = output
        for region in interior { target = try target.slice(axis: region.axis, start: region.start, end: region.end) }
        try backend.copy(storage, layout, to: target.storage, target.layout)
        return output.recorded("pad", [self]) { gradient in
            var inside = gradient
            for region in interior { inside = try inside.slice(axis: region.axis, start: region.start, end: region.end) }
            return [inside]
        }
    }
}
