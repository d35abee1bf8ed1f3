import Foundation

/// Reductions and softmax. Reduced axes are brought to the end (copying only when the view
/// is not already laid out that way), then each output element reduces one contiguous row with
/// four independent 16-wide accumulators; reductions of leading axes run down columns instead.
extension CPUBackend {
    public func reduce(_ operation: ReduceOperation, _ x: Storage, _ xLayout: Layout, axes: [Int], into out: Storage) throws {
        let rank = xLayout.rank
        let kept = (0..<rank).filter { !axes.contains($0) }
        let keptCount = kept.reduce(1) { $0 * xLayout.shape[$1] }
        let reducedCount = axes.reduce(1) { $0 * xLayout.shape[$1] }
        let output = out.floats()
        if reducedCount == 0 {
            let identity: Float = operation == .sum ? 0 : (operation == .maximum ? -.infinity : .infinity)
            output.update(repeating: identity, count: keptCount)
            return
        }
        let leading = axes == Array(0..<axes.count)
        if xLayout.isContiguous && leading && !axes.isEmpty && keptCount > 1 {
            reduceColumns(operation, x.floats() + xLayout.offset, rows: reducedCount, columns: keptCount, output)
            return
        }
        // Bring reduced axes last; copy only if that view is not contiguous.
        let order = kept + axes
        let permuted = Layout(shape: order.map { xLayout.shape[$0] }, strides: order.map { xLayout.strides[$0] },
                              offset: xLayout.offset)
        var source = x.floats() + permuted.offset
        var scratch: Storage?
        if !permuted.isContiguous {
            let copy = Storage.host(dtype: .float32, count: permuted.count)
            copyStrided(x, permuted, toPointer: copy.pointer, dtype: .float32, Layout(contiguous: permuted.shape))
            scratch = copy
            source = copy.floats()
        }
        reduceRows(operation, source, rows: keptCount, columns: reducedCount, output)
        withExtendedLifetime(scratch) {}
    }

    private func reduceRows(_ operation: ReduceOperation, _ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                            _ out: UnsafeMutablePointer<Float>) {
        let input = UncheckedSendable(x), output = UncheckedSendable(out)
        if rows == 1 {
            // One long row: each worker reduces a piece, then the pieces are combined.
            let workers = min(CPUParallelism.threadCount, max(columns / CPUBackend.elementwiseGrain, 1))
            let partials = UnsafeMutablePointer<Float>.allocate(capacity: workers)
            defer { partials.deallocate() }
            let partial = UncheckedSendable(partials)
            CPUParallelism.forEachRange(workers, grain: 1) { range in
                for worker in range {
                    let start = columns * worker / workers, end = columns * (worker + 1) / workers
                    partial.value[worker] = reduceRow(operation, input.value + start, end - start)
                }
            }
            var result = partials[0]
            for worker in 1..<workers { result = combine(operation, result, partials[worker]) }
            out[0] = result
            return
        }
        CPUParallelism.forEachRange(rows, grain: max(1, CPUBackend.elementwiseGrain / columns)) { range in
            for row in range { output.value[row] = reduceRow(operation, input.value + row * columns, columns) }
        }
    }

    private func reduceColumns(_ operation: ReduceOperation, _ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                               _ out: UnsafeMutablePointer<Float>) {
        let input = UncheckedSendable(x), output = UncheckedSendable(out)
        CPUParallelism.forEachRange(columns, grain: max(16, CPUBackend.elementwiseGrain / rows)) { range in
            let destination = output.value + range.lowerBound
            let count = range.count
            destination.update(from: input.value + range.lowerBound, count: count)
            for row in 1..<rows {
                let source = input.value + row * columns + range.lowerBound
                var index = 0
                while index + 16 <= count {
                    let value = combine(operation, loadVector(destination + index), loadVector(source + index))
                    storeVector(value, destination + index)
                    index += 16
                }
                while index < count {
                    destination[index] = combine(operation, destination[index], source[index])
                    index += 1
                }
            }
        }
    }

    public func extremeWithIndex(maximum: Bool, _ x: Storage, _ xLayout: Layout, axis: Int,
                                 values: Storage, indices: Storage) throws {
        let rank = xLayout.rank
        let order = (0..<rank).filter { $0 != axis } + [axis]
        let permuted = Layout(shape: order.map { xLayout.shape[$0] }, strides: order.map { xLayout.strides[$0] },
                              offset: xLayout.offset)
        let columns = xLayout.shape[axis]
        let rows = permuted.count / max(columns, 1)
        let value = values.floats()
        let index = indices.pointer.assumingMemoryBound(to: Int64.self)
        let contiguous = Storage.host(dtype: .float32, count: permuted.count)
        copyStrided(x, permuted, toPointer: contiguous.pointer, dtype: .float32, Layout(contiguous: permuted.shape))
        let source = contiguous.floats()
        for row in 0..<rows {
            let line = source + row * columns
            var best = line[0]
            var bestIndex = 0
            if !best.isNaN {
                for column in 1..<columns {
                    let candidate = line[column]
                    if candidate.isNaN { best = candidate; bestIndex = column; break }
                    if maximum ? candidate > best : candidate < best { best = candidate; bestIndex = column }
                }
            }
            value[row] = best
            index[row] = Int64(bestIndex)
        }
    }

    public func softmax(_ x: Storage, rows: Int, columns: Int, logarithm: Bool, into out: Storage) throws {
        let input = UncheckedSendable(x.floats()), output = UncheckedSendable(out.floats())
        CPUParallelism.forEachRange(rows, grain: max(1, CPUBackend.elementwiseGrain / max(columns, 1))) { range in
            for row in range {
                let source = input.value + row * columns
                let destination = output.value + row * columns
                let maximum = reduceRow(.maximum, source, columns)
                if logarithm {
                    var sum = FloatVector(repeating: 0)
                    mapRowAccumulating(source, columns, &sum) { VectorMath.exp($0 - maximum) }
                    let shift = maximum + Foundation.log(sum.sum())
                    mapRow({ $0 - shift }, source, 1, destination, columns)
                } else {
                    mapRow({ VectorMath.exp($0 - maximum) }, source, 1, destination, columns)
                    let scale = 1 / reduceRow(.sum, destination, columns)
                    mapRow({ $0 * scale }, destination, 1, destination, columns)
                }
            }
        }
    }

    public func softmaxBackward(output y: Storage, gradient g: Storage, rows: Int, columns: Int, logarithm: Bool,
                                into out: Storage) throws {
        let outputs = UncheckedSendable(y.floats()), gradients = UncheckedSendable(g.floats())
        let result = UncheckedSendable(out.floats())
        CPUParallelism.forEachRange(rows, grain: max(1, CPUBackend.elementwiseGrain / max(columns, 1))) { range in
            for row in range {
                let y = outputs.value + row * columns, g = gradients.value + row * columns
                let destination = result.value + row * columns
                if logarithm {
                    // d/dx log_softmax: g - softmax * sum(g)
                    let total = reduceRow(.sum, g, columns)
                    zipRow({ y, g in g - VectorMath.exp(y) * total }, y, 1, g, 1, destination, columns)
                } else {
                    // d/dx softmax: y * (g - sum(g * y))
                    zipRow({ $0 * $1 }, y, 1, g, 1, destination, columns)
                    let dot = reduceRow(.sum, destination, columns)
                    zipRow({ y, g in y * (g - dot) }, y, 1, g, 1, destination, columns)
                }
            }
        }
    }
}

@inline(__always)
func combine(_ operation: ReduceOperation, _ a: Float, _ b: Float) -> Float {
    switch operation {
    case .sum: return a + b
    case .maximum: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
    case .minimum: return a.isNaN || b.isNaN ? .nan : Swift.min(a, b)
    }
}

@inline(__always)
func combine(_ operation: ReduceOperation, _ a: FloatVector, _ b: FloatVector) -> FloatVector {
    switch operation {
    case .sum: return a + b
    case .maximum: return a.replacing(with: b, where: (b .> a) .| (b .!= b))
    case .minimum: return a.replacing(with: b, where: (b .< a) .| (b .!= b))
    }
}

/// Reduces `count` contiguous floats with four independent vector accumulators.
@inline(__always)
func reduceRow(_ operation: ReduceOperation, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
    let identity: Float = operation == .sum ? 0 : (operation == .maximum ? -.infinity : .infinity)
    var a0 = FloatVector(repeating: identity), a1 = a0, a2 = a0, a3 = a0
    var index = 0
    while index + 64 <= count {
        a0 = combine(operation, a0, loadVector(x + index))
        a1 = combine(operation, a1, loadVector(x + index + 16))
        a2 = combine(operation, a2, loadVector(x + index + 32))
        a3 = combine(operation, a3, loadVector(x + index + 48))
        index += 64
    }
    while index + 16 <= count {
        a0 = combine(operation, a0, loadVector(x + index))
        index += 16
    }
    let vector = combine(operation, combine(operation, a0, a1), combine(operation, a2, a3))
    var result = identity
    for lane in 0..<16 { result = combine(operation, result, vector[lane]) }
    while index < count {
        result = combine(operation, result, x[index])
        index += 1
    }
    return result
}

/// Accumulates f(x[i]) over a contiguous row into `sum` without storing the mapped values.
@inline(__always)
func mapRowAccumulating(_ x: UnsafePointer<Float>, _ count: Int, _ sum: inout FloatVector,
                        _ function: (FloatVector) -> FloatVector) {
    var index = 0
    while index + 16 <= count {
        sum += function(loadVector(x + index))
        index += 16
    }
    if index < count {
        let remaining = count - index
        var value = function(gatherVector(x + index, 1, remaining))
        for lane in remaining..<16 { value[lane] = 0 }
        sum += value
    }
}
