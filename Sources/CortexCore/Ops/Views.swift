/// Views: new layouts over the same storage. Each records a backward that undoes it.
extension Tensor {
    /// The same elements in a new shape; one size may be -1 (inferred). Views when the tensor is
    /// contiguous, copies otherwise.
    ///
    /// ```swift
    /// let x = try Tensor.arange(0, 6).reshape([2, -1])   // shape [2, 3]
    /// ```
    public func reshape(_ newShape: [Int]) throws -> Tensor {
        var resolved = newShape
        let inferred = newShape.indices.filter { newShape[$0] == -1 }
        guard inferred.count <= 1, newShape.allSatisfy({ $0 >= -1 }) else {
            throw CortexError.invalidArgument(operation: "reshape", reason: "shape \(newShape) may contain at most one -1 and no other negative size")
        }
        if let axis = inferred.first {
            let known = newShape.filter { $0 != -1 }.reduce(1, *)
            guard known > 0, count % known == 0 else {
                throw CortexError.shapeMismatch(operation: "reshape", shapes: [shape, newShape], reason: "(cannot infer the -1 size)")
            }
            resolved[axis] = count / known
        }
        guard resolved.reduce(1, *) == count else {
            throw CortexError.shapeMismatch(operation: "reshape", shapes: [shape, newShape], reason: "(element counts differ)")
        }
        if resolved == shape { return self }
        let source = try contiguous()
        let originalShape = shape
        return source.view(Layout(contiguous: resolved, offset: source.layout.offset))
            .recorded("reshape", [source]) { gradient in [try gradient.reshape(originalShape)] }
    }

    /// Collapses axes `startAxis...endAxis` into one, as `torch.flatten`.
    public func flatten(startAxis: Int = 0, endAxis: Int = -1) throws -> Tensor {
        if rank == 0 { return try reshape([1]) }
        let start = try Shapes.normalize(axis: startAxis, rank: rank, operation: "flatten")
        let end = try Shapes.normalize(axis: endAxis, rank: rank, operation: "flatten")
        guard start <= end else {
            throw CortexError.invalidArgument(operation: "flatten", reason: "start axis \(startAxis) comes after end axis \(endAxis)")
        }
        let merged = shape[start...end].reduce(1, *)
        return try reshape(Array(shape[..<start]) + [merged] + Array(shape[(end + 1)...]))
    }

    /// Reorders axes: output axis i is input axis `order[i]`.
    public func permute(_ order: [Int]) throws -> Tensor {
        guard order.count == rank else {
            throw CortexError.invalidArgument(operation: "permute", reason: "order \(order) has \(order.count) axes for a tensor of rank \(rank)")
        }
        let resolved = try order.map { try Shapes.normalize(axis: $0, rank: rank, operation: "permute") }
        guard Set(resolved).count == rank else {
            throw CortexError.invalidArgument(operation: "permute", reason: "order \(order) repeats an axis")
        }
        var inverse = [Int](repeating: 0, count: rank)
        for (position, axis) in resolved.enumerated() { inverse[axis] = position }
        return view(Layout(shape: resolved.map { shape[$0] }, strides: resolved.map { strides[$0] }, offset: layout.offset))
            .recorded("permute", [self]) { gradient in [try gradient.permute(inverse)] }
    }

    /// Swaps two axes.
    public func transpose(_ first: Int, _ second: Int) throws -> Tensor {
        let a = try Shapes.normalize(axis: first, rank: rank, operation: "transpose")
        let b = try Shapes.normalize(axis: second, rank: rank, operation: "transpose")
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return try permute(order)
    }

    /// The transpose of the last two axes (a matrix transpose for rank 2).
    public var mT: Tensor { get throws { try transpose(-2, -1) } }

    /// Removes size-1 axes (all, or just `axis`).
    public func squeeze(_ axis: Int? = nil) throws -> Tensor {
        let axes: [Int]
        if let axis {
            let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: "squeeze")
            axes = shape[resolved] == 1 ? [resolved] : []
        } else {
            axes = (0..<rank).filter { shape[$0] == 1 }
        }
        if axes.isEmpty { return self }
        let keep = (0..<rank).filter { !axes.contains($0) }
        let originalShape = shape
        return view(Layout(shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] }, offset: layout.offset))
            .recorded("squeeze", [self]) { gradient in [try gradient.reshape(originalShape)] }
    }

    /// Inserts a size-1 axis at `axis` (in the output's numbering).
    public func unsqueeze(_ axis: Int) throws -> Tensor {
        let resolved = try Shapes.normalize(axis: axis, rank: rank + 1, operation: "unsqueeze")
        var newShape = shape, newStrides = strides
        let stride = resolved < rank ? strides[resolved] * shape[resolved] : 1
        newShape.insert(1, at: resolved)
        newStrides.insert(stride, at: resolved)
        return view(Layout(shape: newShape, strides: newStrides, offset: layout.offset))
            .recorded("unsqueeze", [self]) { gradient in [try gradient.squeeze(resolved)] }
    }

    /// Broadcasts to `target` without copying (stride 0 on new or size-1 axes); -1 keeps a size.
    public func expand(_ target: [Int]) throws -> Tensor {
        guard target.count >= rank else {
            throw CortexError.shapeMismatch(operation: "expand", shapes: [shape, target], reason: "(target has fewer axes)")
        }
        let shift = target.count - rank
        var resolved = target
        for axis in 0..<rank where target[axis + shift] == -1 { resolved[axis + shift] = shape[axis] }
        for axis in 0..<rank where shape[axis] != 1 && shape[axis] != resolved[axis + shift] {
            throw CortexError.shapeMismatch(operation: "expand", shapes: [shape, target], reason: "(axis \(axis) of size \(shape[axis]) cannot expand)")
        }
        if resolved == shape { return self }
        try Shapes.validate(resolved, operation: "expand")
        let originalShape = shape
        return view(Layout(shape: resolved, strides: layout.broadcastStrides(to: resolved), offset: layout.offset))
            .recorded("expand", [self]) { gradient in [try gradient.sumToShape(originalShape)] }
    }

    /// Sums a broadcast gradient back down to `target` (the shape before broadcasting).
    public func sumToShape(_ target: [Int]) throws -> Tensor {
        if shape == target { return self }
        let shift = rank - target.count
        guard shift >= 0 else {
            throw CortexError.shapeMismatch(operation: "sumToShape", shapes: [shape, target], reason: "(target has more axes)")
        }
        var axes = Array(0..<shift)
        for axis in 0..<target.count where target[axis] == 1 && shape[axis + shift] != 1 { axes.append(axis + shift) }
        let summed = axes.isEmpty ? self : try sum(axes: axes, keepDimensions: true)
        return try summed.reshape(target)
    }

    /// Elements `start..<end` in steps of `step` along `axis`. Negative bounds count from the
    /// end and out-of-range bounds are clamped, as Python slicing.
    ///
    /// ```swift
    /// let everyOther = try x.slice(axis: 1, start: 0, end: nil, step: 2)   // x[:, ::2]
    /// ```
    public func slice(axis: Int, start: Int? = nil, end: Int? = nil, step: Int = 1) throws -> Tensor {
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: "slice")
        guard step > 0 else { throw CortexError.invalidArgument(operation: "slice", reason: "step \(step) must be positive") }
        let size = shape[resolved]
        func clampIndex(_ value: Int?, default fallback: Int) -> Int {
            guard var value else { return fallback }
            if value < 0 { value += size }
            return Swift.min(Swift.max(value, 0), size)
        }
        let lower = clampIndex(start, default: 0)
        let upper = Swift.max(clampIndex(end, default: size), lower)
        let length = (upper - lower + step - 1) / step
        var newShape = shape, newStrides = strides
        newShape[resolved] = length
        newStrides[resolved] = strides[resolved] * step
        let sliceLayout = Layout(shape: newShape, strides: newStrides, offset: layout.offset + lower * strides[resolved])
        let originalShape = shape
        return view(sliceLayout).recorded("slice", [self]) { gradient in
            let full = try Tensor.zeros(originalShape, device: gradient.device)
            let target = try full.slice(axis: resolved, start: lower, end: upper, step: step)
            try full.backend.copy(gradient.storage, gradient.layout, to: target.storage, target.layout)
            return [full]
        }
    }

    /// The sub-tensor at `index` along `axis`, with that axis removed.
    public func select(axis: Int, index: Int) throws -> Tensor {
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: "select")
        let size = shape[resolved]
        guard index >= -size, index < size else {
            throw CortexError.indexOutOfRange(operation: "select", index: index, bound: size)
        }
        let position = index < 0 ? index + size : index
        return try slice(axis: resolved, start: position, end: position + 1).squeeze(resolved)
    }

    /// Python-style indexing, one entry per leading axis:
    ///
    /// ```swift
    /// let y = try x[.all, .range(1, 5, step: 2), .index(0)]   // x[:, 1:5:2, 0]
    /// ```
    public subscript(_ indices: TensorIndex...) -> Tensor {
        get throws {
            guard indices.count <= rank else {
                throw CortexError.invalidArgument(operation: "subscript", reason: "\(indices.count) indices for a tensor of rank \(rank)")
            }
            var result = self
            var axis = 0
            for index in indices {
                switch index {
                case .all: axis += 1
                case let .range(start, end, step):
                    result = try result.slice(axis: axis, start: start, end: end, step: step)
                    axis += 1
                case let .index(position):
                    result = try result.select(axis: axis, index: position)
                }
            }
            return result
        }
    }
}

/// One axis of a ``Tensor`` subscript.
public enum TensorIndex: Sendable {
    /// Every element (`:`).
    case all
    /// `start:end:step` with Python's rules (nil bounds mean the ends).
    case range(Int?, Int?, step: Int)
    /// A single position; the axis is removed.
    case index(Int)

    public static func range(_ range: Range<Int>, step: Int = 1) -> TensorIndex { .range(range.lowerBound, range.upperBound, step: step) }
    public static func from(_ start: Int, step: Int = 1) -> TensorIndex { .range(start, nil, step: step) }
}
