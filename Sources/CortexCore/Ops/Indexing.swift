/// Indexing by integer tensors: gather, scatter-add, index select, embedding lookup, one-hot,
/// and the triangular masks tril/triu.
extension Tensor {
    func requireIndices(_ operation: String) throws {
        guard dtype.isInteger else {
            throw CortexError.dtypeMismatch(operation: operation, expected: "int32 or int64 indices", got: dtype.rawValue)
        }
    }

    /// out[i][j][k] = self[i][index[i][j][k]][k] for axis 1, as `torch.gather`.
    public func gather(axis: Int, index: Tensor) throws -> Tensor {
        try index.requireIndices("gather")
        try requireSameDevice(index, "gather")
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: "gather")
        guard index.rank == rank else {
            throw CortexError.shapeMismatch(operation: "gather", shapes: [shape, index.shape], reason: "(input and index) must have the same rank")
        }
        for dimension in 0..<rank where dimension != resolved && index.shape[dimension] > shape[dimension] {
            throw CortexError.shapeMismatch(operation: "gather", shapes: [shape, index.shape],
                                            reason: "(index is larger than input along axis \(dimension))")
        }
        let output = try Tensor.empty(index.shape, dtype: dtype, device: device)
        try backend.gather(storage, layout, axis: resolved, index: index.storage, index.layout, into: output.storage)
        let inputShape = shape
        return output.recorded("gather", [self]) { gradient in
            [try Tensor.zeros(inputShape, device: gradient.device).scatterAdd(axis: resolved, index: index, source: gradient)]
        }
    }

    /// A copy of `self` with `source` added at `index` along `axis`, as `torch.scatter_add`.
    public func scatterAdd(axis: Int, index: Tensor, source: Tensor) throws -> Tensor {
        try index.requireIndices("scatterAdd")
        try requireFloat32("scatterAdd")
        try source.requireFloat32("scatterAdd")
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: "scatterAdd")
        guard index.rank == rank, source.rank == rank else {
            throw CortexError.shapeMismatch(operation: "scatterAdd", shapes: [shape, index.shape, source.shape], reason: "must have the same rank")
        }
        for dimension in 0..<rank where index.shape[dimension] > source.shape[dimension]
            || (dimension != resolved && index.shape[dimension] > shape[dimension]) {
            throw CortexError.shapeMismatch(operation: "scatterAdd", shapes: [shape, index.shape, source.shape],
                                            reason: "(index is larger than source or input along axis \(dimension))")
        }
        let output = try withNoGrad { try self.clone() }
        try backend.scatterAdd(into: output.storage, destinationShape: shape, axis: resolved,
                               index: index.storage, index.layout, source: source.storage, source.layout)
        return output.recorded("scatterAdd", [self, source]) { gradient in
            [gradient, try gradient.gather(axis: resolved, index: index)]
        }
    }

    /// The slices at `indices` (1-D) along `axis`, as `torch.index_select`.
    public func indexSelect(axis: Int, indices: Tensor) throws -> Tensor {
        try indices.requireIndices("indexSelect")
        try requireSameDevice(indices, "indexSelect")
        guard indices.rank <= 1 else {
            throw CortexError.shapeMismatch(operation: "indexSelect", shapes: [indices.shape], reason: "indices must be 1-D")
        }
        let resolved = try Shapes.normalize(axis: axis, rank: rank, operation: "indexSelect")
        var outputShape = shape
        outputShape[resolved] = indices.count
        let output = try Tensor.empty(outputShape, dtype: dtype, device: device)
        try backend.indexSelect(storage, layout, axis: resolved, indices: indices.storage, indices.layout, into: output.storage)
        let inputShape = shape
        return output.recorded("indexSelect", [self]) { gradient in
            let full = try Tensor.zeros(inputShape, device: gradient.device)
            try full.backend.indexAdd(into: full.storage, destinationShape: inputShape, axis: resolved,
                                      indices: indices.storage, indices.layout, source: gradient.storage, gradient.layout)
            return [full]
        }
    }

    /// Rows of this (vocabulary, dimension) table for each id in `indices` (any shape), as
    /// `torch.nn.functional.embedding`: the result has shape `indices.shape + [dimension]`.
    public func embedding(_ indices: Tensor) throws -> Tensor {
        guard rank == 2 else {
            throw CortexError.shapeMismatch(operation: "embedding", shapes: [shape], reason: "weight must be (vocabulary, dimension)")
        }
        return try indexSelect(axis: 0, indices: indices.reshape([-1])).reshape(indices.shape + [shape[1]])
    }

    /// One-hot encoding of integer class ids, with a trailing axis of `classes` (int64), as
    /// `torch.nn.functional.one_hot`.
    public func oneHot(classes: Int, dtype outputType: DType = .int64) throws -> Tensor {
        try requireIndices("oneHot")
        guard classes > 0 else { throw CortexError.invalidArgument(operation: "oneHot", reason: "classes \(classes) must be positive") }
        let ids = try toIntArray()
        var values = [Float](repeating: 0, count: ids.count * classes)
        for (position, id) in ids.enumerated() {
            guard id >= 0, id < classes else { throw CortexError.indexOutOfRange(operation: "oneHot", index: id, bound: classes) }
            values[position * classes + id] = 1
        }
        return try Tensor(values, shape: shape + [classes], device: device).to(outputType)
    }

    /// Keeps the lower triangle (column - row <= diagonal) of the last two axes, as `torch.tril`.
    public func tril(diagonal: Int = 0) throws -> Tensor { try triangle(diagonal: diagonal, upper: false) }

    /// Keeps the upper triangle (column - row >= diagonal) of the last two axes, as `torch.triu`.
    public func triu(diagonal: Int = 0) throws -> Tensor { try triangle(diagonal: diagonal, upper: true) }

    private func triangle(diagonal: Int, upper: Bool) throws -> Tensor {
        let name = upper ? "triu" : "tril"
        guard rank >= 2 else {
            throw CortexError.shapeMismatch(operation: name, shapes: [shape], reason: "needs at least two axes")
        }
        let output = try Tensor.empty(shape, dtype: dtype, device: device)
        try backend.triangle(storage, layout, diagonal: diagonal, upper: upper, into: output.storage)
        return output.recorded(name, [self]) { gradient in [try gradient.triangle(diagonal: diagonal, upper: upper)] }
    }
}
