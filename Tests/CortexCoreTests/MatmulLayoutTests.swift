import CCortexKernels
import Testing
@testable import CortexCore
import CortexTestSupport

/// Transposed operands reach sgemm as a transpose flag and leading dimension, not as copies.
@Suite struct MatmulLayoutTests {
    typealias View = CPUBackend.MatrixView

    @Test func rowMajorAndTransposedViewsNeedNoCopy() throws {
        let matrix = try Tensor.zeros([5, 8])
        let rowMajor = View(rows: 5, columns: 8, rowStride: 8, columnStride: 1)!
        #expect(!rowMajor.transposed && rowMajor.leadingDimension == 8)
        let transposed = try matrix.mT   // (8, 5) with strides (1, 8)
        let view = View(rows: 8, columns: 5, rowStride: transposed.strides[0], columnStride: transposed.strides[1])!
        #expect(view.transposed && view.leadingDimension == 8)
        // A column block of a wider matrix keeps its parent's leading dimension.
        let block = try matrix.slice(axis: 1, start: 2, end: 6)
        let blockView = View(rows: 5, columns: 4, rowStride: block.strides[0], columnStride: block.strides[1])!
        #expect(!blockView.transposed && blockView.leadingDimension == 8)
    }

    @Test func viewsWithoutAUnitStrideAreCopied() throws {
        let everyOther = try Tensor.zeros([4, 8]).slice(axis: 1, step: 2)   // column stride 2
        #expect(View(rows: 4, columns: 4, rowStride: everyOther.strides[0], columnStride: everyOther.strides[1]) == nil)
    }

    @Test func transposedProductsMatchContiguousOnes() throws {
        let generator = RandomGenerator(seed: 4)
        let a = try Tensor.randn([3, 64, 48], generator: generator), b = try Tensor.randn([3, 80, 48], generator: generator)
        let viaTranspose = try a.matmul(b.transpose(1, 2))
        let viaCopy = try a.matmul(b.transpose(1, 2).contiguous())
        #expect(try (viaTranspose - viaCopy).abs().max().item() < 1e-4)
        // Broadcast batch (1 -> 3) against a shared right operand, and one folded tall product.
        let shared = try Tensor.randn([48, 16], generator: generator)
        let folded = try a.matmul(shared)
        let perBatch = try Tensor.stack((0..<3).map { try a.select(axis: 0, index: $0).matmul(shared) })
        #expect(try (folded - perBatch).abs().max().item() < 1e-4)
    }

    /// The OpenBLAS path (CPUs without AVX-512) and the packed AVX-512 GEMM agree on every
    /// layout the products meet: transposed, sliced, batched, broadcast, folded, vectors.
    @Test func openBLASAndPackedGEMMAgree() throws {
        let generator = RandomGenerator(seed: 21)
        let a = try Tensor.randn([3, 40, 70], generator: generator), b = try Tensor.randn([70, 50], generator: generator)
        let c = try Tensor.randn([3, 50, 70], generator: generator), wide = try Tensor.randn([40, 140], generator: generator)
        let big = try Tensor.randn([300, 200], generator: generator), other = try Tensor.randn([200, 260], generator: generator)
        // Linear-layer shapes (x @ W^T) for the transposing packers: K with a tail past 16-wide
        // runs and past a 256-deep block, N with a partial 32-column panel.
        let weight = try Tensor.randn([70, 200], generator: generator)
        let long = try Tensor.randn([36, 530], generator: generator), longWeight = try Tensor.randn([64, 530], generator: generator)
        // Deep products with small outputs (split over K; the 32 x 9 one computed transposed).
        let deep = try Tensor.randn([32, 3000], generator: generator), narrow = try Tensor.randn([9, 3000], generator: generator)
        let wide40 = try Tensor.randn([3000, 40], generator: generator)
        // Decoding shapes (1 to 4 rows, no packing): row-major and transposed B, batched, tails.
        let row = try Tensor.randn([1, 70], generator: generator), rows = try Tensor.randn([3, 70], generator: generator)
        let wideB = try Tensor.randn([70, 300], generator: generator), batchedRows = try Tensor.randn([5, 1, 37], generator: generator)
        let batchedB = try Tensor.randn([5, 37, 9], generator: generator)
        func products() throws -> [Tensor] {
            [try row.matmul(wideB), try rows.matmul(wideB), try row.matmul(weight.mT.slice(axis: 0, start: 0, end: 70)),
             try rows.matmul(b), try batchedRows.matmul(batchedB), try batchedRows.matmul(batchedB.transpose(1, 2).contiguous().transpose(1, 2)),
             try deep.matmul(narrow.mT), try deep.matmul(wide40), try big.matmul(weight.mT), try long.matmul(longWeight.mT),
             try longWeight.matmul(long.mT)] + [
             try a.matmul(b), try a.matmul(c.transpose(1, 2)), try a.mT.matmul(a), try wide.slice(axis: 1, step: 2).matmul(b),
             try big.matmul(other), try big.mT.matmul(big), try b.matmul(Tensor.ones([50])), try Tensor.ones([70]).matmul(b),
             try a.select(axis: 0, index: 1).unsqueeze(0).matmul(c.transpose(1, 2))]
        }
        let packed = try products()
        let blas = try withKernelSelectionLock {
            cortex_allow_avx512(0)
            defer { cortex_allow_avx512(1) }
            return try products()
        }
        for (index, (x, y)) in zip(packed, blas).enumerated() {
            let failure = try closenessFailure(x, y, rtol: 1e-4, atol: 1e-4)
            #expect(failure == nil, "product \(index): \(failure ?? "")")
        }
    }
}
