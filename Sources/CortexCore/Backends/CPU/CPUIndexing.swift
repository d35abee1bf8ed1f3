import CCortexKernels

/// Gather/scatter, index select/add, triangular masks and im2col/col2im on the CPU.
/// Index values are checked here, where they are read, and reported with their bound.
extension CPUBackend {
    /// A contiguous pointer to the viewed elements, copying only when the view is not contiguous.
    func contiguousElements(_ storage: Storage, _ layout: Layout) -> (pointer: UnsafeMutableRawPointer, keepAlive: Storage) {
        if layout.isContiguous {
            return (storage.pointer + layout.offset * storage.dtype.byteCount, storage)
        }
        let copy = Storage.host(dtype: storage.dtype, count: layout.count)
        copyStrided(storage, layout, toPointer: copy.pointer, dtype: storage.dtype, Layout(contiguous: layout.shape))
        return (copy.pointer, copy)
    }

    /// Index values as Ints, checked against `bound`.
    func indexValues(_ storage: Storage, _ layout: Layout, bound: Int, operation: String) throws -> [Int] {
        let (pointer, keepAlive) = contiguousElements(storage, layout)
        let count = layout.count
        var values = [Int](repeating: 0, count: count)
        if storage.dtype == .int64 {
            let typed = pointer.assumingMemoryBound(to: Int64.self)
            for position in 0..<count { values[position] = Int(typed[position]) }
        } else {
            let typed = pointer.assumingMemoryBound(to: Int32.self)
            for position in 0..<count { values[position] = Int(typed[position]) }
        }
        withExtendedLifetime(keepAlive) {}
        for value in values where value < 0 || value >= bound {
            throw CortexError.indexOutOfRange(operation: operation, index: value, bound: bound)
        }
        return values
    }

    public func gather(_ x: Storage, _ xLayout: Layout, axis: Int, index: Storage, _ indexLayout: Layout,
                       into out: Storage) throws {
        let indices = try indexValues(index, indexLayout, bound: xLayout.shape[axis], operation: "gather")
        let shape = indexLayout.shape
        let size = x.dtype.byteCount
        var coordinates = [Int](repeating: 0, count: shape.count)
        for position in 0..<indices.count {
            var offset = xLayout.offset
            for dimension in 0..<shape.count {
                offset += (dimension == axis ? indices[position] : coordinates[dimension]) * xLayout.strides[dimension]
            }
            (out.pointer + position * size).copyMemory(from: x.pointer + offset * size, byteCount: size)
            var dimension = shape.count - 1
            while dimension >= 0 {
                coordinates[dimension] += 1
                if coordinates[dimension] < shape[dimension] { break }
                coordinates[dimension] = 0
                dimension -= 1
            }
        }
    }

    public func scatterAdd(into destination: Storage, destinationShape: [Int], axis: Int,
                           index: Storage, _ indexLayout: Layout, source: Storage, _ sourceLayout: Layout) throws {
        let indices = try indexValues(index, indexLayout, bound: destinationShape[axis], operation: "scatterAdd")
        let (sourcePointer, keepAlive) = contiguousElements(source, sourceLayout)
        let values = sourcePointer.assumingMemoryBound(to: Float.self)
        let target = destination.floats()
        let strides = Layout.contiguousStrides(destinationShape)
        let sourceStrides = Layout.contiguousStrides(sourceLayout.shape)
        let shape = indexLayout.shape
        var coordinates = [Int](repeating: 0, count: shape.count)
        for position in 0..<indices.count {
            var offset = 0, sourceOffset = 0
            for dimension in 0..<shape.count {
                offset += (dimension == axis ? indices[position] : coordinates[dimension]) * strides[dimension]
                sourceOffset += coordinates[dimension] * sourceStrides[dimension]
            }
            target[offset] += values[sourceOffset]
            var dimension = shape.count - 1
            while dimension >= 0 {
                coordinates[dimension] += 1
                if coordinates[dimension] < shape[dimension] { break }
                coordinates[dimension] = 0
                dimension -= 1
            }
        }
        withExtendedLifetime(keepAlive) {}
    }

    public func indexSelect(_ x: Storage, _ xLayout: Layout, axis: Int, indices: Storage, _ indicesLayout: Layout,
                            into out: Storage) throws {
        let selected = try indexValues(indices, indicesLayout, bound: xLayout.shape[axis], operation: "indexSelect")
        let (source, keepAlive) = contiguousElements(x, xLayout)
        let outer = xLayout.shape[..<axis].reduce(1, *)
        let inner = xLayout.shape[(axis + 1)...].reduce(1, *)
        let size = x.dtype.byteCount
        let axisSize = xLayout.shape[axis]
        let input = UncheckedSendable(source), output = UncheckedSendable(out.pointer)
        let rows = outer * selected.count
        CPUParallelism.forEachRange(rows, grain: max(1, CPUBackend.elementwiseGrain / max(inner, 1))) { range in
            for row in range {
                let (o, j) = row.quotientAndRemainder(dividingBy: selected.count)
                (output.value + row * inner * size)
                    .copyMemory(from: input.value + ((o * axisSize + selected[j]) * inner) * size, byteCount: inner * size)
            }
        }
        withExtendedLifetime(keepAlive) {}
    }

    public func indexAdd(into destination: Storage, destinationShape: [Int], axis: Int,
                         indices: Storage, _ indicesLayout: Layout, source: Storage, _ sourceLayout: Layout) throws {
        let selected = try indexValues(indices, indicesLayout, bound: destinationShape[axis], operation: "indexAdd")
        let (sourcePointer, keepAlive) = contiguousElements(source, sourceLayout)
        let values = sourcePointer.assumingMemoryBound(to: Float.self)
        let target = destination.floats()
        let outer = destinationShape[..<axis].reduce(1, *)
        let inner = destinationShape[(axis + 1)...].reduce(1, *)
        let axisSize = destinationShape[axis]
        for o in 0..<outer {
            for (j, index) in selected.enumerated() {
                let to = target + (o * axisSize + index) * inner
                let from = values + (o * selected.count + j) * inner
                cortex_binary(Int32(bitPattern: CORTEX_ADD.rawValue), to, 1, from, 1, to, inner, 0, 0)
            }
        }
        withExtendedLifetime(keepAlive) {}
    }

    public func triangle(_ x: Storage, _ xLayout: Layout, diagonal: Int, upper: Bool, into out: Storage) throws {
        let rank = xLayout.rank
        let rows = xLayout.shape[rank - 2], columns = xLayout.shape[rank - 1]
        let size = x.dtype.byteCount
        copyStrided(x, xLayout, toPointer: out.pointer, dtype: x.dtype, Layout(contiguous: xLayout.shape))
        let matrices = xLayout.count / max(rows * columns, 1)
        for matrix in 0..<matrices {
            for row in 0..<rows {
                let base = out.pointer + (matrix * rows * columns + row * columns) * size
                for column in 0..<columns {
                    let keep = upper ? column - row >= diagonal : column - row <= diagonal
                    if !keep { (base + column * size).initializeMemory(as: UInt8.self, repeating: 0, count: size) }
                }
            }
        }
    }

    public func im2col(_ x: Storage, _ xLayout: Layout, geometry g: ConvolutionGeometry, into out: Storage, _ outLayout: Layout) throws {
        let (source, keepAlive) = contiguousElements(x, xLayout)
        let input = UncheckedSendable(source.assumingMemoryBound(to: Float.self)), output = UncheckedSendable(out.floats() + outLayout.offset)
        let kernelArea = g.kernelHeight * g.kernelWidth
        let (batchStride, rowStride) = (outLayout.strides[0], outLayout.strides[1])
        CPUParallelism.forEachRange(g.batch * g.channels, grain: 1) { range in
            for plane in range {
                let (item, channel) = plane.quotientAndRemainder(dividingBy: g.channels)
                cortex_im2col_plane(input.value + plane * g.height * g.width, g.height, g.width, g.kernelHeight, g.kernelWidth,
                                    g.strideHeight, g.strideWidth, g.paddingHeight, g.paddingWidth, g.dilationHeight, g.dilationWidth,
                                    g.outputHeight, g.outputWidth, output.value + item * batchStride + channel * kernelArea * rowStride,
                                    rowStride)
            }
        }
        withExtendedLifetime(keepAlive) {}
    }

    public func col2im(_ columns: Storage, _ columnsLayout: Layout, geometry g: ConvolutionGeometry, into out: Storage) throws {
        // Rows with a contiguous last axis are read in place whatever the order of the first two
        // axes (a batch-folded layout needs no copy); anything else is made contiguous first.
        let inPlace = columnsLayout.strides[2] == 1 || g.outputHeight * g.outputWidth == 1
        let (source, keepAlive) = inPlace ? (columns.pointer + columnsLayout.offset * 4, columns) : contiguousElements(columns, columnsLayout)
        let (batchStride, rowStride) = inPlace ? (columnsLayout.strides[0], columnsLayout.strides[1])
            : (columnsLayout.shape[1] * columnsLayout.shape[2], columnsLayout.shape[2])
        let input = UncheckedSendable(source.assumingMemoryBound(to: Float.self)), output = UncheckedSendable(out.floats())
        let kernelArea = g.kernelHeight * g.kernelWidth
        CPUParallelism.forEachRange(g.batch * g.channels, grain: 1) { range in
            for plane in range {
                let (item, channel) = plane.quotientAndRemainder(dividingBy: g.channels)
                cortex_col2im_plane(input.value + item * batchStride + channel * kernelArea * rowStride, rowStride, g.height, g.width,
                                    g.kernelHeight, g.kernelWidth, g.strideHeight, g.strideWidth, g.paddingHeight, g.paddingWidth,
                                    g.dilationHeight, g.dilationWidth, g.outputHeight, g.outputWidth,
                                    output.value + plane * g.height * g.width)
            }
        }
        withExtendedLifetime(keepAlive) {}
    }

    public func maxPool2d(_ x: Storage, _ xLayout: Layout, geometry g: ConvolutionGeometry, values: Storage, indices: Storage) throws {
        let (source, keepAlive) = contiguousElements(x, xLayout)
        let input = UncheckedSendable(source.assumingMemoryBound(to: Float.self))
        let output = UncheckedSendable((values.floats(), indices.pointer.assumingMemoryBound(to: Int64.self)))
        let outputHeight = g.outputHeight, outputWidth = g.outputWidth
        CPUParallelism.forEachRange(g.batch * g.channels, grain: max(1, 4096 / max(g.height * g.width, 1))) { range in
            for plane in range {
                let pooled = plane * outputHeight * outputWidth
                cortex_max_pool2d_plane(input.value + plane * g.height * g.width, g.height, g.width, g.kernelHeight, g.kernelWidth,
                                        g.strideHeight, g.strideWidth, g.paddingHeight, g.paddingWidth, g.dilationHeight,
                                        g.dilationWidth, outputHeight, outputWidth, output.value.0 + pooled,
                                        UnsafeMutableRawPointer(output.value.1 + pooled).assumingMemoryBound(to: Int64.self))
            }
        }
        withExtendedLifetime(keepAlive) {}
    }

    public func maxPool2dBackward(gradient: Storage, _ gradientLayout: Layout, indices: Storage, geometry g: ConvolutionGeometry,
                                  into out: Storage) throws {
        let (source, keepAlive) = contiguousElements(gradient, gradientLayout)
        let upstream = UncheckedSendable(source.assumingMemoryBound(to: Float.self))
        let positions = UncheckedSendable(indices.pointer.assumingMemoryBound(to: Int64.self))
        let result = UncheckedSendable(out.floats())
        let planeSize = g.height * g.width, pooledSize = g.outputHeight * g.outputWidth
        CPUParallelism.forEachRange(g.batch * g.channels, grain: max(1, 4096 / max(planeSize, 1))) { range in
            for plane in range {
                let image = result.value + plane * planeSize
                image.update(repeating: 0, count: planeSize)
                for index in (plane * pooledSize)..<((plane + 1) * pooledSize) {
                    let position = Int(positions.value[index])
                    if position >= 0 { image[position] += upstream.value[index] }
                }
            }
        }
        withExtendedLifetime(keepAlive) {}
    }
}
