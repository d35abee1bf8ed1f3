import CortexCore

/// The `cortex_strides` argument of the strided kernels (CUDAKernelSource's prelude), laid out
/// as the CUDA struct: shape, the first operand's strides, the second's (0 on broadcast axes),
/// each 8 `long long`s, then the rank. Output elements are numbered row-major over `shape`.
///
/// ```swift
/// let strides = try CUDAStrides(shape: [4, 3], a: aLayout, b: bLayout)   // b of shape [3] broadcast over rows
/// ```
public struct CUDAStrides: BitwiseCopyable, Sendable {
    public var shape: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64) = (1, 1, 1, 1, 1, 1, 1, 1)
    public var a: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64) = (0, 0, 0, 0, 0, 0, 0, 0)
    public var b: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64) = (0, 0, 0, 0, 0, 0, 0, 0)
    public var rank: Int32 = 0

    /// Strides for an output of `shape` read from `a` and `b` (each broadcast to `shape` by
    /// NumPy's rules: trailing axes aligned, size-1 or missing axes read with stride 0).
    public init(shape: [Int], a: Layout, b: Layout? = nil) throws {
        guard shape.count <= CUDAKernelSource.maximumRank else {
            throw CortexError.invalidArgument(operation: "CUDAStrides", reason: "rank \(shape.count) exceeds the kernels' \(CUDAKernelSource.maximumRank)")
        }
        func aligned(_ layout: Layout) throws -> [Int] {
            guard layout.rank <= shape.count else {
                throw CortexError.shapeMismatch(operation: "CUDAStrides", shapes: [layout.shape, shape], reason: "(cannot broadcast)")
            }
            let padding = shape.count - layout.rank
            return try shape.indices.map { axis in
                guard axis >= padding else { return 0 }
                let size = layout.shape[axis - padding]
                guard size == shape[axis] || size == 1 else {
                    throw CortexError.shapeMismatch(operation: "CUDAStrides", shapes: [layout.shape, shape], reason: "(cannot broadcast)")
                }
                return size == 1 ? 0 : layout.strides[axis - padding]
            }
        }
        let aStrides = try aligned(a), bStrides = try b.map(aligned) ?? Array(repeating: 0, count: shape.count)
        rank = Int32(shape.count)
        withUnsafeMutableBytes(of: &self.shape) { bytes in
            for (axis, size) in shape.enumerated() { bytes.storeBytes(of: Int64(size), toByteOffset: 8 * axis, as: Int64.self) }
        }
        withUnsafeMutableBytes(of: &self.a) { bytes in
            for (axis, stride) in aStrides.enumerated() { bytes.storeBytes(of: Int64(stride), toByteOffset: 8 * axis, as: Int64.self) }
        }
        withUnsafeMutableBytes(of: &self.b) { bytes in
            for (axis, stride) in bStrides.enumerated() { bytes.storeBytes(of: Int64(stride), toByteOffset: 8 * axis, as: Int64.self) }
        }
    }

    /// The element offsets (relative to each operand's base) of output element `index`, as
    /// the kernels' `cortex_offsets` computes them.
    public func offsets(_ index: Int) -> (a: Int, b: Int) {
        var (remaining, a, b) = (Int64(index), Int64(0), Int64(0))
        withUnsafeBytes(of: shape) { shape in
            withUnsafeBytes(of: self.a) { aStrides in
                withUnsafeBytes(of: self.b) { bStrides in
                    for axis in stride(from: Int(rank) - 1, through: 0, by: -1) {
                        let size = shape.load(fromByteOffset: 8 * axis, as: Int64.self)
                        let coordinate = remaining % size
                        remaining /= size
                        a += coordinate * aStrides.load(fromByteOffset: 8 * axis, as: Int64.self)
                        b += coordinate * bStrides.load(fromByteOffset: 8 * axis, as: Int64.self)
                    }
                }
            }
        }
        return (Int(a), Int(b))
    }
}

/// Grid sizes for the kernels: 256-thread blocks, enough blocks to cover `count` elements but
/// no more than 32 per multiprocessor (the grid-stride loops cover the rest).
public enum CUDALaunch {
    public static let blockSize = 256

    public static func grid(elements count: Int, multiprocessors: Int) -> Int {
        max(1, min((count + blockSize - 1) / blockSize, 32 * max(multiprocessors, 1)))
    }
}
