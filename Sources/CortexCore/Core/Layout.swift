/// How a tensor's elements sit in its storage: a shape, a stride per axis (in elements, not
/// bytes) and the element offset of the first element. Views (transpose, slice, expand, ...)
/// make a new layout over the same storage and never copy.
public struct Layout: Sendable, Equatable, CustomStringConvertible {
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int

    public init(shape: [Int], strides: [Int], offset: Int = 0) {
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// A row-major (C order) layout.
    public init(contiguous shape: [Int], offset: Int = 0) {
        self.shape = shape
        self.strides = Layout.contiguousStrides(shape)
        self.offset = offset
    }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }

    /// True when the elements are in row-major order with no gaps (size-1 axes may have any stride).
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    public var description: String { "Layout(shape: \(shape), strides: \(strides), offset: \(offset))" }

    /// The same elements viewed with `axes` (sorted) moved after all the others.
    func movingAxesLast(_ axes: [Int]) -> Layout {
        let order = (0..<rank).filter { !axes.contains($0) } + axes
        return Layout(shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset)
    }

    /// This layout's strides seen through a broadcast to `target` (stride 0 on broadcast axes).
    func broadcastStrides(to target: [Int]) -> [Int] {
        var result = [Int](repeating: 0, count: target.count)
        let shift = target.count - shape.count
        for axis in 0..<shape.count where shape[axis] != 1 {
            result[axis + shift] = strides[axis]
        }
        return result
    }
}

/// Shape arithmetic shared by the ops.
public enum Shapes {
    /// NumPy broadcasting of two shapes.
    public static func broadcast(_ a: [Int], _ b: [Int], operation: String) throws -> [Int] {
        if a == b { return a }
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for index in 0..<rank {
            let da = index < rank - a.count ? 1 : a[index - (rank - a.count)]
            let db = index < rank - b.count ? 1 : b[index - (rank - b.count)]
            if da == db || db == 1 { result[index] = da }
            else if da == 1 { result[index] = db }
            else { throw CortexError.shapeMismatch(operation: operation, shapes: [a, b], reason: "cannot be broadcast together") }
        }
        return result
    }

    /// Normalises a possibly negative axis, throwing for one outside the rank.
    @inline(__always)
    public static func normalize(axis: Int, rank: Int, operation: String) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0, resolved < max(rank, 1) else {
            throw CortexError.invalidAxis(operation: operation, axis: axis, rank: rank)
        }
        return resolved
    }

    /// Normalised, sorted, duplicate-free axes; `nil` means every axis.
    public static func normalize(axes: [Int]?, rank: Int, operation: String) throws -> [Int] {
        guard let axes else { return Array(0..<rank) }
        var seen = Set<Int>()
        for axis in axes {
            let resolved = try normalize(axis: axis, rank: rank, operation: operation)
            guard seen.insert(resolved).inserted else {
                throw CortexError.invalidArgument(operation: operation, reason: "axis \(axis) appears more than once in \(axes)")
            }
        }
        return seen.sorted()
    }

    static func validate(_ shape: [Int], operation: String) throws {
        for size in shape where size < 0 {
            throw CortexError.invalidArgument(operation: operation, reason: "negative dimension \(size) in shape \(shape)")
        }
        // The strides multiply every size but the first; with a zero size the element count is
        // 0, yet the strides of the others must still fit in Int.
        var product = 1
        for size in shape where size > 0 {
            let (next, overflow) = product.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw CortexError.invalidArgument(operation: operation, reason: "shape \(shape) is too large: its sizes multiply past \(Int.max)")
            }
            product = next
        }
    }
}

/// Merges adjacent axes that walk memory the same way for every operand, and drops size-1 axes,
/// so element-wise kernels iterate as few, as long rows as possible.
struct CoalescedIteration {
    var shape: [Int]
    /// strides[operand][axis]
    var strides: [[Int]]

    init(shape: [Int], strides operandStrides: [[Int]]) {
        if shape.contains(0) {
            self.shape = [0]
            self.strides = Array(repeating: [1], count: operandStrides.count)
            return
        }
        var keptShape: [Int] = []
        var kept: [[Int]] = Array(repeating: [], count: operandStrides.count)
        for axis in 0..<shape.count where shape[axis] != 1 {
            keptShape.append(shape[axis])
            for operand in 0..<operandStrides.count { kept[operand].append(operandStrides[operand][axis]) }
        }
        if keptShape.isEmpty {
            self.shape = [1]
            self.strides = Array(repeating: [1], count: operandStrides.count)
            return
        }
        var mergedShape = [keptShape[0]]
        var merged = kept.map { [$0[0]] }
        for axis in 1..<keptShape.count {
            let last = mergedShape.count - 1
            let canMerge = (0..<kept.count).allSatisfy { merged[$0][last] == kept[$0][axis] * keptShape[axis] }
            if canMerge {
                mergedShape[last] *= keptShape[axis]
                for operand in 0..<kept.count { merged[operand][last] = kept[operand][axis] }
            } else {
                mergedShape.append(keptShape[axis])
                for operand in 0..<kept.count { merged[operand].append(kept[operand][axis]) }
            }
        }
        self.shape = mergedShape
        self.strides = merged
    }

    var innerCount: Int { shape[shape.count - 1] }
    var rowCount: Int { shape.dropLast().reduce(1, *) }

    /// Element offsets of every operand at the start of row `row` (rows enumerate all axes but the last).
    func rowOffsets(_ row: Int, into offsets: inout [Int], bases: [Int]) {
        for operand in 0..<offsets.count { offsets[operand] = bases[operand] }
        var remainder = row
        var axis = shape.count - 2
        while axis >= 0 && remainder > 0 {
            let index = remainder % shape[axis]
            remainder /= shape[axis]
            for operand in 0..<offsets.count { offsets[operand] += index * strides[operand][axis] }
            axis -= 1
        }
    }
}
