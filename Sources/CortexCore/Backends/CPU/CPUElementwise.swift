import Foundation

/// Element-wise kernels. Operands are coalesced into as few rows as possible; each row runs a
/// 16-wide SIMD loop when the operand is contiguous (stride 1) or broadcast (stride 0) along
/// it, and gathers otherwise. Rows (or one long row, split) are shared between the cores.
extension CPUBackend {
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
        let shape = xLayout.shape
        let iteration = CoalescedIteration(shape: shape, strides: [Layout.contiguousStrides(shape), xLayout.strides])
        let stride = iteration.strides[1].last!
        let input = UncheckedSendable(x.floats())
        let output = UncheckedSendable(out.floats())
        @inline(__always) func run(_ function: (FloatVector) -> FloatVector) {
            forEachRow(iteration, bases: [0, xLayout.offset]) { offsets, count in
                mapRow(function, input.value + offsets[1], stride, output.value + offsets[0], count)
            }
        }
        switch operation {
        case .negate: run { -$0 }
        case .exp: run { VectorMath.exp($0) }
        case .log: run { VectorMath.log($0) }
        case .sqrt: run { $0.squareRoot() }
        case .rsqrt: run { 1 / $0.squareRoot() }
        case .abs: run { VectorMath.abs($0) }
        case .sign: run { v in FloatVector(repeating: 0).replacing(with: 1, where: v .> 0).replacing(with: -1, where: v .< 0) }
        case .reciprocal: run { 1 / $0 }
        case .square: run { $0 * $0 }
        case .sin: run { v in var r = v; for lane in 0..<16 { r[lane] = Foundation.sin(v[lane]) }; return r }
        case .cos: run { v in var r = v; for lane in 0..<16 { r[lane] = Foundation.cos(v[lane]) }; return r }
        case .relu: run { v in v.replacing(with: 0, where: v .< 0) }
        case .sigmoid: run { VectorMath.sigmoid($0) }
        case .tanh: run { VectorMath.tanh($0) }
        case .gelu: run { VectorMath.gelu($0) }
        case .geluTanh: run { VectorMath.geluTanh($0) }
        case .silu: run { $0 * VectorMath.sigmoid($0) }
        case let .softplus(beta, threshold): run { VectorMath.softplus($0, beta: beta, threshold: threshold) }
        case let .leakyRelu(slope): run { v in v.replacing(with: v * slope, where: v .< 0) }
        case let .power(exponent): run { VectorMath.power($0, exponent) }
        case let .clamp(minimum, maximum):
            run { v in v.replacing(with: FloatVector(repeating: minimum), where: v .< minimum)
                        .replacing(with: FloatVector(repeating: maximum), where: v .> maximum) }
        case let .affine(scale, shift): run { $0 * scale + shift }
        }
    }

    public func binary(_ operation: BinaryOperation, _ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                       shape: [Int], into out: Storage) throws {
        let iteration = CoalescedIteration(shape: shape, strides: [
            Layout.contiguousStrides(shape), aLayout.broadcastStrides(to: shape), bLayout.broadcastStrides(to: shape),
        ])
        let strideA = iteration.strides[1].last!, strideB = iteration.strides[2].last!
        let left = UncheckedSendable(a.floats()), right = UncheckedSendable(b.floats())
        let output = UncheckedSendable(out.floats())
        @inline(__always) func run(_ function: (FloatVector, FloatVector) -> FloatVector) {
            forEachRow(iteration, bases: [0, aLayout.offset, bLayout.offset]) { offsets, count in
                zipRow(function, left.value + offsets[1], strideA, right.value + offsets[2], strideB,
                       output.value + offsets[0], count)
            }
        }
        switch operation {
        case .add: run { $0 + $1 }
        case .subtract: run { $0 - $1 }
        case .multiply: run { $0 * $1 }
        case .divide: run { $0 / $1 }
        case .power: run { VectorMath.power($0, $1) }
        // NaN in either operand propagates, as in PyTorch.
        case .maximum: run { x, y in x.replacing(with: y, where: (y .> x) .| (y .!= y)) }
        case .minimum: run { x, y in x.replacing(with: y, where: (y .< x) .| (y .!= y)) }
        case .reluBackward: run { x, g in g.replacing(with: 0, where: x .<= 0) }
        case .sigmoidBackwardFromOutput: run { y, g in g * y * (1 - y) }
        case .tanhBackwardFromOutput: run { y, g in g * (1 - y * y) }
        case .geluBackward: run { VectorMath.geluBackward($0, $1) }
        case .geluTanhBackward: run { VectorMath.geluTanhBackward($0, $1) }
        case .siluBackward:
            run { x, g in let s = VectorMath.sigmoid(x); return g * s * (1 + x * (1 - s)) }
        case let .softplusBackward(beta, threshold):
            run { x, g in
                let z = VectorMath.sigmoid(x * beta)
                return (g * z).replacing(with: g, where: x * beta .> threshold)
            }
        case let .leakyReluBackward(slope): run { x, g in g.replacing(with: g * slope, where: x .<= 0) }
        case let .clampBackward(minimum, maximum):
            run { x, g in g.replacing(with: 0, where: (x .< minimum) .| (x .> maximum)) }
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

@inline(__always)
func loadVector(_ pointer: UnsafePointer<Float>) -> FloatVector {
    UnsafeRawPointer(pointer).loadUnaligned(as: FloatVector.self)
}

@inline(__always)
func storeVector(_ value: FloatVector, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: FloatVector.self)
}

/// Loads up to 16 elements at `stride` (0 broadcasts one element), padding with zeros.
@inline(__always)
func gatherVector(_ pointer: UnsafePointer<Float>, _ stride: Int, _ count: Int) -> FloatVector {
    var vector = FloatVector(repeating: 0)
    for lane in 0..<count { vector[lane] = pointer[lane * stride] }
    return vector
}

@inline(__always)
func storePartial(_ value: FloatVector, _ pointer: UnsafeMutablePointer<Float>, _ count: Int) {
    for lane in 0..<count { pointer[lane] = value[lane] }
}

/// out[i] = f(x[i * stride]) for i in 0..<count; out is contiguous.
@inline(__always)
func mapRow(_ function: (FloatVector) -> FloatVector, _ x: UnsafePointer<Float>, _ stride: Int,
            _ out: UnsafeMutablePointer<Float>, _ count: Int) {
    var index = 0
    if stride == 1 {
        while index + 16 <= count {
            storeVector(function(loadVector(x + index)), out + index)
            index += 16
        }
    } else {
        while index + 16 <= count {
            storeVector(function(gatherVector(x + index * stride, stride, 16)), out + index)
            index += 16
        }
    }
    if index < count {
        let remaining = count - index
        storePartial(function(gatherVector(x + index * stride, stride, remaining)), out + index, remaining)
    }
}

/// out[i] = f(a[i * strideA], b[i * strideB]); the SIMD loop covers contiguous and broadcast operands.
@inline(__always)
func zipRow(_ function: (FloatVector, FloatVector) -> FloatVector,
            _ a: UnsafePointer<Float>, _ strideA: Int, _ b: UnsafePointer<Float>, _ strideB: Int,
            _ out: UnsafeMutablePointer<Float>, _ count: Int) {
    var index = 0
    if strideA == 1 && strideB == 1 {
        while index + 16 <= count {
            storeVector(function(loadVector(a + index), loadVector(b + index)), out + index)
            index += 16
        }
    } else if strideA == 1 && strideB == 0 {
        let splat = FloatVector(repeating: b[0])
        while index + 16 <= count {
            storeVector(function(loadVector(a + index), splat), out + index)
            index += 16
        }
    } else if strideA == 0 && strideB == 1 {
        let splat = FloatVector(repeating: a[0])
        while index + 16 <= count {
            storeVector(function(splat, loadVector(b + index)), out + index)
            index += 16
        }
    } else {
        while index + 16 <= count {
            storeVector(function(gatherVector(a + index * strideA, strideA, 16),
                                 gatherVector(b + index * strideB, strideB, 16)), out + index)
            index += 16
        }
    }
    if index < count {
        let remaining = count - index
        storePartial(function(gatherVector(a + index * strideA, strideA, remaining),
                              gatherVector(b + index * strideB, strideB, remaining)), out + index, remaining)
    }
}
