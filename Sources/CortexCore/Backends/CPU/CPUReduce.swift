import CCortexKernels
import Foundation

/// Reductions and softmax. Reduced axes are brought to the end (copying only when the view
/// is not already laid out that way), then each output element reduces one contiguous row with
/// four independent 16-wide accumulators; reductions of leading axes run down columns instead.
extension CPUBackend {
    public func reduce(_ operation: ReduceOperation, _ x: Storage, _ xLayout: Layout, axes: [Int], into out: Storage) throws {
        let kept = (0..<xLayout.rank).filter { !axes.contains($0) }
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
        let (source, keepAlive) = contiguousElements(x, xLayout.movingAxesLast(axes))
        reduceRows(operation, source.assumingMemoryBound(to: Float.self), rows: keptCount, columns: reducedCount, output)
        withExtendedLifetime(keepAlive) {}
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
                cortex_reduce_into(operation.kernel, destination, input.value + row * columns + range.lowerBound, count)
            }
        }
    }

    public func extremeWithIndex(maximum: Bool, _ x: Storage, _ xLayout: Layout, axis: Int,
                                 values: Storage, indices: Storage) throws {
        let columns = xLayout.shape[axis]
        let rows = xLayout.count / max(columns, 1)
        let value = values.floats()
        let index = indices.pointer.assumingMemoryBound(to: Int64.self)
        let (elements, keepAlive) = contiguousElements(x, xLayout.movingAxesLast([axis]))
        defer { withExtendedLifetime(keepAlive) {} }
        let source = elements.assumingMemoryBound(to: Float.self)
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
                cortex_softmax_row(input.value + row * columns, output.value + row * columns, columns, logarithm ? 1 : 0)
            }
        }
    }

    public func softmaxBackward(output y: Storage, gradient g: Storage, rows: Int, columns: Int, logarithm: Bool,
                                into out: Storage) throws {
        let outputs = UncheckedSendable(y.floats()), gradients = UncheckedSendable(g.floats())
        let result = UncheckedSendable(out.floats())
        CPUParallelism.forEachRange(rows, grain: max(1, CPUBackend.elementwiseGrain / max(columns, 1))) { range in
            for row in range {
                let offset = row * columns
                cortex_softmax_backward_row(outputs.value + offset, gradients.value + offset, result.value + offset,
                                            columns, logarithm ? 1 : 0)
            }
        }
    }
}

extension ReduceOperation {
    var kernel: Int32 {
        switch self {
        case .sum: return Int32(bitPattern: CORTEX_SUM.rawValue)
        case .maximum: return Int32(bitPattern: CORTEX_MAX.rawValue)
        case .minimum: return Int32(bitPattern: CORTEX_MIN.rawValue)
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

/// Reduces `count` contiguous floats.
@inline(__always)
func reduceRow(_ operation: ReduceOperation, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
    cortex_reduce(operation.kernel, x, count)
}
