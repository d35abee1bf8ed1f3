import CCortexKernels

/// Element-wise kernels. Operands are coalesced into as few rows as possible and the rows
/// (or pieces of one long row) shared between the cores; each row runs a vectorised C kernel
/// (CCortexKernels) directly when every operand is contiguous or broadcast along it, and
/// through small gathered chunks otherwise.
extension CPUBackend {
    /// Elements gathered per chunk for strided rows.
    static let gatherChunk = 1024

    /// Calls `body(offsets, count)` for each row piece, in parallel; `offsets[k]` is operand k's
    /// element offset at the piece's first element.
    @inline(__always)
    func forEachRow(_ iteration: CoalescedIteration, bases: [Int], _ body: (_ offsets: [Int], _ count: Int) -> Void) {
        let inner = iteration.innerCount
        let rows = iteration.rowCount
        if rows == 1 {
            let innerStrides = iteration.strides.map { $0.last! }
            CPUParallelism.forEachRange(inner, grain: CPUBackend.elementwiseGrain) { range in
                var offsets = bases
                for operand in 0..<offsets.count { offsets[operand] += range.lowerBound * innerStrides[operand] }
                body(offsets, range.count)
            }
            return
        }
        CPUParallelism.forEachRange(rows, grain: max(1, CPUBackend.elementwiseGrain / max(inner, 1))) { range in
            var offsets = bases
            for row in range {
                iteration.rowOffsets(row, into: &offsets, bases: bases)
                body(offsets, inner)
            }
        }
    }

    public func unary(_ operation: UnaryOperation, _ x: Storage, _ xLayout: Layout, into out: Storage) throws {
        let (code, first, second) = operation.kernel
        if xLayout.isContiguous {
            // One row: skip the iteration planning, which dominates for small tensors.
            let input = UncheckedSendable(x.floats() + xLayout.offset), output = UncheckedSendable(out.floats())
            CPUParallelism.forEachRange(xLayout.count, grain: CPUBackend.elementwiseGrain) { range in
                cortex_unary(code, input.value + range.lowerBound, output.value + range.lowerBound, range.count, first, second)
            }
            return
        }
        let shape = xLayout.shape
        let iteration = CoalescedIteration(shape: shape, strides: [Layout.contiguousStrides(shape), xLayout.strides])
        let stride = iteration.strides[1].last!
        let input = UncheckedSendable(x.floats()), output = UncheckedSendable(out.floats())
        forEachRow(iteration, bases: [0, xLayout.offset]) { offsets, count in
            let source = input.value + offsets[1], destination = output.value + offsets[0]
            if stride == 1 {
                cortex_unary(code, source, destination, count, first, second)
                return
            }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: CPUBackend.gatherChunk) { buffer in
                for start in Swift.stride(from: 0, to: count, by: CPUBackend.gatherChunk) {
                    let length = min(CPUBackend.gatherChunk, count - start)
                    for index in 0..<length { buffer[index] = source[(start + index) * stride] }
                    cortex_unary(code, buffer.baseAddress, destination + start, length, first, second)
                }
            }
        }
    }

    public func binary(_ operation: BinaryOperation, _ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                       shape: [Int], into out: Storage) throws {
        let (code, first, second) = operation.kernel
        if aLayout.shape == shape && bLayout.shape == shape && aLayout.isContiguous && bLayout.isContiguous {
            // Same-shape contiguous operands: one row, no iteration planning.
            let left = UncheckedSendable(a.floats() + aLayout.offset), right = UncheckedSendable(b.floats() + bLayout.offset)
            let output = UncheckedSendable(out.floats())
            CPUParallelism.forEachRange(aLayout.count, grain: CPUBackend.elementwiseGrain) { range in
                let start = range.lowerBound
                cortex_binary(code, left.value + start, 1, right.value + start, 1, output.value + start, range.count, first, second)
            }
            return
        }
        let iteration = CoalescedIteration(shape: shape, strides: [
            Layout.contiguousStrides(shape), aLayout.broadcastStrides(to: shape), bLayout.broadcastStrides(to: shape),
        ])
        let strideA = iteration.strides[1].last!, strideB = iteration.strides[2].last!
        let left = UncheckedSendable(a.floats()), right = UncheckedSendable(b.floats())
        let output = UncheckedSendable(out.floats())
        forEachRow(iteration, bases: [0, aLayout.offset, bLayout.offset]) { offsets, count in
            let x = left.value + offsets[1], y = right.value + offsets[2], destination = output.value + offsets[0]
            if (strideA == 0 || strideA == 1) && (strideB == 0 || strideB == 1) {
                cortex_binary(code, x, strideA, y, strideB, destination, count, first, second)
                return
            }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * CPUBackend.gatherChunk) { buffer in
                let gatheredA = buffer.baseAddress!, gatheredB = buffer.baseAddress! + CPUBackend.gatherChunk
                for start in Swift.stride(from: 0, to: count, by: CPUBackend.gatherChunk) {
                    let length = min(CPUBackend.gatherChunk, count - start)
                    var pointerA = x + start * strideA, pointerB = y + start * strideB
                    var unitA = strideA, unitB = strideB
                    if strideA > 1 || strideA < 0 {
                        for index in 0..<length { gatheredA[index] = pointerA[index * strideA] }
                        pointerA = UnsafeMutablePointer(gatheredA)
                        unitA = 1
                    }
                    if strideB > 1 || strideB < 0 {
                        for index in 0..<length { gatheredB[index] = pointerB[index * strideB] }
                        pointerB = UnsafeMutablePointer(gatheredB)
                        unitB = 1
                    }
                    cortex_binary(code, pointerA, unitA, pointerB, unitB, destination + start, length, first, second)
                }
            }
        }
    }

    public func compare(_ operation: CompareOperation, _ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                        shape: [Int], into out: Storage) throws {
        let iteration = CoalescedIteration(shape: shape, strides: [
            Layout.contiguousStrides(shape), aLayout.broadcastStrides(to: shape), bLayout.broadcastStrides(to: shape),
        ])
        let strideA = iteration.strides[1].last!, strideB = iteration.strides[2].last!
        let left = UncheckedSendable(a.floats()), right = UncheckedSendable(b.floats())
        let output = UncheckedSendable(out.pointer.assumingMemoryBound(to: UInt8.self))
        @inline(__always) func run(_ predicate: @escaping (Float, Float) -> Bool) {
            forEachRow(iteration, bases: [0, aLayout.offset, bLayout.offset]) { offsets, count in
                let x = left.value + offsets[1], y = right.value + offsets[2], result = output.value + offsets[0]
                for index in 0..<count { result[index] = predicate(x[index * strideA], y[index * strideB]) ? 1 : 0 }
            }
        }
        switch operation {
        case .equal: run { $0 == $1 }
        case .notEqual: run { $0 != $1 }
        case .less: run { $0 < $1 }
        case .lessEqual: run { $0 <= $1 }
        case .greater: run { $0 > $1 }
        case .greaterEqual: run { $0 >= $1 }
        }
    }

    public func select(_ condition: Storage, _ conditionLayout: Layout, _ a: Storage, _ aLayout: Layout,
                       _ b: Storage, _ bLayout: Layout, shape: [Int], into out: Storage) throws {
        let iteration = CoalescedIteration(shape: shape, strides: [
            Layout.contiguousStrides(shape), conditionLayout.broadcastStrides(to: shape),
            aLayout.broadcastStrides(to: shape), bLayout.broadcastStrides(to: shape),
        ])
        let strides = iteration.strides.map { $0.last! }
        let size = out.dtype.byteCount
        let mask = UncheckedSendable(condition.pointer.assumingMemoryBound(to: UInt8.self))
        let left = UncheckedSendable(a.pointer), right = UncheckedSendable(b.pointer)
        let output = UncheckedSendable(out.pointer)
        forEachRow(iteration, bases: [0, conditionLayout.offset, aLayout.offset, bLayout.offset]) { offsets, count in
            for index in 0..<count {
                let chosen = mask.value[offsets[1] + index * strides[1]] != 0
                    ? left.value + (offsets[2] + index * strides[2]) * size
                    : right.value + (offsets[3] + index * strides[3]) * size
                (output.value + (offsets[0] + index) * size).copyMemory(from: chosen, byteCount: size)
            }
        }
    }
}

extension UnaryOperation {
    /// The C kernel's operation code and parameters.
    var kernel: (Int32, Float, Float) {
        func code(_ op: cortex_unary_op) -> Int32 { Int32(bitPattern: op.rawValue) }
        switch self {
        case .negate: return (code(CORTEX_NEGATE), 0, 0)
        case .exp: return (code(CORTEX_EXP), 0, 0)
        case .log: return (code(CORTEX_LOG), 0, 0)
        case .sqrt: return (code(CORTEX_SQRT), 0, 0)
        case .rsqrt: return (code(CORTEX_RSQRT), 0, 0)
        case .abs: return (code(CORTEX_ABS), 0, 0)
        case .sign: return (code(CORTEX_SIGN), 0, 0)
        case .reciprocal: return (code(CORTEX_RECIPROCAL), 0, 0)
        case .square: return (code(CORTEX_SQUARE), 0, 0)
        case .sin: return (code(CORTEX_SIN), 0, 0)
        case .cos: return (code(CORTEX_COS), 0, 0)
        case .relu: return (code(CORTEX_RELU), 0, 0)
        case .sigmoid: return (code(CORTEX_SIGMOID), 0, 0)
        case .tanh: return (code(CORTEX_TANH), 0, 0)
        case .gelu: return (code(CORTEX_GELU), 0, 0)
        case .geluTanh: return (code(CORTEX_GELU_TANH), 0, 0)
        case .silu: return (code(CORTEX_SILU), 0, 0)
        case let .softplus(beta, threshold): return (code(CORTEX_SOFTPLUS), beta, threshold)
        case let .leakyRelu(slope): return (code(CORTEX_LEAKY_RELU), slope, 0)
        case let .power(exponent): return (code(CORTEX_POWER_SCALAR), exponent, 0)
        case let .clamp(minimum, maximum): return (code(CORTEX_CLAMP), minimum, maximum)
        case let .affine(scale, shift): return (code(CORTEX_AFFINE), scale, shift)
        }
    }
}

extension BinaryOperation {
    /// The C kernel's operation code and parameters.
    var kernel: (Int32, Float, Float) {
        func code(_ op: cortex_binary_op) -> Int32 { Int32(bitPattern: op.rawValue) }
        switch self {
        case .add: return (code(CORTEX_ADD), 0, 0)
        case .subtract: return (code(CORTEX_SUBTRACT), 0, 0)
        case .multiply: return (code(CORTEX_MULTIPLY), 0, 0)
        case .divide: return (code(CORTEX_DIVIDE), 0, 0)
        case .power: return (code(CORTEX_POWER), 0, 0)
        case .maximum: return (code(CORTEX_MAXIMUM), 0, 0)
        case .minimum: return (code(CORTEX_MINIMUM), 0, 0)
        case .reluBackward: return (code(CORTEX_RELU_BACKWARD), 0, 0)
        case .sigmoidBackwardFromOutput: return (code(CORTEX_SIGMOID_BACKWARD_FROM_OUTPUT), 0, 0)
        case .tanhBackwardFromOutput: return (code(CORTEX_TANH_BACKWARD_FROM_OUTPUT), 0, 0)
        case .geluBackward: return (code(CORTEX_GELU_BACKWARD), 0, 0)
        case .geluTanhBackward: return (code(CORTEX_GELU_TANH_BACKWARD), 0, 0)
        case .siluBackward: return (code(CORTEX_SILU_BACKWARD), 0, 0)
        case let .softplusBackward(beta, threshold): return (code(CORTEX_SOFTPLUS_BACKWARD), beta, threshold)
        case let .leakyReluBackward(slope): return (code(CORTEX_LEAKY_RELU_BACKWARD), slope, 0)
        case let .clampBackward(minimum, maximum): return (code(CORTEX_CLAMP_BACKWARD), minimum, maximum)
        }
    }
}
