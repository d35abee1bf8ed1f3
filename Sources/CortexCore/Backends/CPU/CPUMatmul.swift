import CBLAS
import CCortexKernels

/// Batched, broadcasting matrix products. On CPUs with AVX-512 they run on Cortex's own packed
/// GEMM (CCortexKernels/gemm_avx512.c), which reads any strided view directly; elsewhere
/// through single-threaded OpenBLAS `cblas_sgemm` calls shared out among Cortex's workers,
/// where a transposed view is passed as a transpose flag with its leading dimension, never
/// copied, and only views with no unit stride in either matrix axis are made contiguous first.
/// Element offsets of each batch's left and right matrices under batch broadcasting.
struct MatmulBatches {
    let shape: [Int]
    let leftStrides: [Int], rightStrides: [Int]

    init(outputShape: [Int], left: Layout, right: Layout) {
        let batchShape = Array(outputShape.dropLast(2))
        func strides(_ layout: Layout) -> [Int] {
            Layout(shape: Array(layout.shape.dropLast(2)), strides: Array(layout.strides.dropLast(2))).broadcastStrides(to: batchShape)
        }
        shape = batchShape
        leftStrides = strides(left)
        rightStrides = strides(right)
    }

    var count: Int { shape.reduce(1, *) }

    func offsets(_ batch: Int) -> (left: Int, right: Int) {
        var remainder = batch, left = 0, right = 0
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            let index = remainder % shape[axis]
            remainder /= shape[axis]
            left += index * leftStrides[axis]
            right += index * rightStrides[axis]
        }
        return (left, right)
    }
}

extension CPUBackend {
    /// How BLAS should read one stored matrix view: row-major, maybe transposed, leading dimension.
    struct MatrixView {
        var transposed: Bool
        var leadingDimension: Int

        init?(rows: Int, columns: Int, rowStride: Int, columnStride: Int) {
            if columnStride == 1 || columns == 1 {
                let leading = rows == 1 ? max(columns, 1) : rowStride
                if leading >= max(columns, 1) { transposed = false; leadingDimension = leading; return }
            }
            if rowStride == 1 || rows == 1 {
                let leading = columns == 1 ? max(rows, 1) : columnStride
                if leading >= max(rows, 1) { transposed = true; leadingDimension = leading; return }
            }
            return nil
        }
    }

    /// OpenBLAS runs on the calling thread only; Cortex's workers share the products out.
    /// (Its thread count is one setting for the whole process: switching it for some products
    /// changed how other threads' concurrent products were summed, so the same product gave
    /// different roundings depending on what else ran.)
    static let singleThreadedBLAS: Void = openblas_set_num_threads(1)

    public func matmul(_ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                       outputShape: [Int], precision: Autocast.Precision, into out: Storage) throws {
        if precision == .bfloat16 {
            guard cortex_has_avx512_bf16() != 0 else {
                throw CortexError.invalidArgument(operation: "matmul", reason: "bfloat16 products need AVX512_BF16 (Tensor.matmul emulates them elsewhere)")
            }
            packedMatmul(a, aLayout, b, bLayout, outputShape: outputShape, bfloat16: true, into: out)
            return
        }
        if cortex_has_avx512() != 0 {
            packedMatmul(a, aLayout, b, bLayout, outputShape: outputShape, into: out)
            return
        }
        var aLayout = aLayout, bLayout = bLayout
        var aStorage = a, bStorage = b
        let rank = outputShape.count
        let M = outputShape[rank - 2], N = outputShape[rank - 1], K = aLayout.shape.last!
        let output = out.floats()
        if M == 0 || N == 0 { return }
        if K == 0 { output.update(repeating: 0, count: out.count); return }

        func view(_ layout: Layout, rows: Int, columns: Int) -> MatrixView? {
            MatrixView(rows: rows, columns: columns, rowStride: layout.strides[layout.rank - 2],
                       columnStride: layout.strides[layout.rank - 1])
        }
        var aView = view(aLayout, rows: M, columns: K)
        if aView == nil {
            aStorage = Storage.host(dtype: .float32, count: aLayout.count)
            copyStrided(a, aLayout, toPointer: aStorage.pointer, dtype: .float32, Layout(contiguous: aLayout.shape))
            aLayout = Layout(contiguous: aLayout.shape)
            aView = view(aLayout, rows: M, columns: K)
        }
        var bView = view(bLayout, rows: K, columns: N)
        if bView == nil {
            bStorage = Storage.host(dtype: .float32, count: bLayout.count)
            copyStrided(b, bLayout, toPointer: bStorage.pointer, dtype: .float32, Layout(contiguous: bLayout.shape))
            bLayout = Layout(contiguous: bLayout.shape)
            bView = view(bLayout, rows: K, columns: N)
        }
        let left = aView!, right = bView!
        let batches = MatmulBatches(outputShape: outputShape, left: aLayout, right: bLayout)
        let (batchShape, batchCount) = (batches.shape, batches.count)
        let aBase = aStorage.floats() + aLayout.offset, bBase = bStorage.floats() + bLayout.offset

        _ = Self.singleThreadedBLAS
        // C's rows [rows] and columns [columns] of one product, on the calling thread.
        func gemm(_ aPointer: UnsafePointer<Float>, _ bPointer: UnsafePointer<Float>, _ cPointer: UnsafeMutablePointer<Float>,
                  rows: Range<Int>, columns: Range<Int>, leading: Int? = nil) {
            let aLeading = leading ?? left.leadingDimension
            let aStart = aPointer + rows.lowerBound * (left.transposed ? 1 : aLeading)
            let bStart = bPointer + columns.lowerBound * (right.transposed ? right.leadingDimension : 1)
            cblas_sgemm(CblasRowMajor, left.transposed ? CblasTrans : CblasNoTrans, right.transposed ? CblasTrans : CblasNoTrans,
                        Int32(rows.count), Int32(columns.count), Int32(K), 1, aStart, Int32(aLeading),
                        bStart, Int32(right.leadingDimension), 0, cPointer + rows.lowerBound * N + columns.lowerBound, Int32(N))
        }
        // One product split between the workers: the taller side in 16-row (or 16-column)
        // shares, each share computed whole by one worker, so no result depends on timing.
        let pointers = UncheckedSendable((aBase, bBase, output))
        func product(_ aOffset: Int, _ bOffset: Int, _ cOffset: Int, rows: Int, leading: Int? = nil) {
            let (aPointer, bPointer, cPointer) = (pointers.value.0 + aOffset, pointers.value.1 + bOffset, pointers.value.2 + cOffset)
            let splitRows = rows >= N
            let pieces = ((splitRows ? rows : N) + 15) / 16
            let grain = max(1, (1 << 18) / max(16 * (splitRows ? N : rows) * K, 1))
            CPUParallelism.forEachRange(pieces, grain: grain) { range in
                let first = 16 * range.lowerBound, last = min(16 * range.upperBound, splitRows ? rows : N)
                gemm(aPointer, bPointer, cPointer, rows: splitRows ? first..<last : 0..<rows, columns: splitRows ? 0..<N : first..<last,
                     leading: leading)
            }
        }

        // A shared right operand and row-major stacked left matrices: one tall product.
        if !left.transposed && batches.rightStrides.allSatisfy({ $0 == 0 }) {
            let folded = CoalescedIteration(shape: batchShape + [M], strides: [batches.leftStrides + [left.leadingDimension]])
            if folded.shape.count == 1 && folded.strides[0][0] >= K {
                product(0, 0, 0, rows: batchCount * M, leading: folded.strides[0][0])
                withExtendedLifetime((aStorage, bStorage)) {}
                return
            }
        }
        if batchCount >= 2 && M * N * K < (1 << 21) {
            // Many small products: one worker each.
            CPUParallelism.forEachRange(batchCount, grain: max(1, (1 << 18) / max(M * N * K, 1))) { range in
                for batch in range {
                    let (aOffset, bOffset) = batches.offsets(batch)
                    gemm(pointers.value.0 + aOffset, pointers.value.1 + bOffset, pointers.value.2 + batch * M * N, rows: 0..<M, columns: 0..<N)
                }
            }
        } else {
            for batch in 0..<batchCount {
                let (aOffset, bOffset) = batches.offsets(batch)
                product(aOffset, bOffset, batch * M * N, rows: M)
            }
        }
        withExtendedLifetime((aStorage, bStorage)) {}
    }

    /// Products on the AVX-512 packed GEMM: batches in parallel, or one large product split
    /// into a row (or column) half per core. With `bfloat16` (autocast) the operands are rounded
    /// to bfloat16 as they are packed and multiplied on the AVX512_BF16 kernel: every product
    /// takes the same splits except the float32 kernel's shared B panels and unpacked decoding.
    func packedMatmul(_ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout, outputShape: [Int], bfloat16: Bool = false,
                      into out: Storage) {
        let rank = outputShape.count
        let M = outputShape[rank - 2], N = outputShape[rank - 1], K = aLayout.shape.last!
        if M == 0 || N == 0 { return }
        let batches = MatmulBatches(outputShape: outputShape, left: aLayout, right: bLayout)
        let batchCount = batches.count
        let (aRow, aColumn) = (aLayout.strides[aLayout.rank - 2], aLayout.strides[aLayout.rank - 1])
        let (bRow, bColumn) = (bLayout.strides[bLayout.rank - 2], bLayout.strides[bLayout.rank - 1])
        // A shared right operand (a Linear's weight against (B, T, C) activations) and left
        // matrices whose rows stack with one stride: one tall product, B packed once instead of
        // once per batch.
        if batchCount > 1 && batches.rightStrides.allSatisfy({ $0 == 0 }) {
            let folded = CoalescedIteration(shape: batches.shape + [M], strides: [batches.leftStrides + [aRow]])
            if folded.shape.count == 1 {
                packedMatmul(a, Layout(shape: [batchCount * M, K], strides: [folded.strides[0][0], aColumn], offset: aLayout.offset),
                             b, Layout(shape: [K, N], strides: [bRow, bColumn], offset: bLayout.offset),
                             outputShape: [batchCount * M, N], bfloat16: bfloat16, into: out)
                return
            }
        }
        let pointers = UncheckedSendable((a.floats() + aLayout.offset, b.floats() + bLayout.offset, out.floats()))
        let gemm = bfloat16 ? cortex_bf16_sgemm : cortex_avx512_sgemm
        // Rows [rows] x columns [columns] of batch `batch`'s product.
        func block(_ batch: Int, rows: Range<Int>, columns: Range<Int>) {
            let (aOffset, bOffset) = batches.offsets(batch)
            let (aBase, bBase, cBase) = pointers.value
            gemm(rows.count, columns.count, K,
                 aBase + aOffset + rows.lowerBound * aRow, aRow, aColumn,
                 bBase + bOffset + columns.lowerBound * bColumn, bRow, bColumn,
                 cBase + batch * M * N + rows.lowerBound * N + columns.lowerBound, N)
        }
        // A few rows (decoding one token): no packing; every worker takes a share of the columns
        // of every batch.
        if M <= 4 && aColumn == 1 && (bColumn == 1 || bRow == 1) && K > 0 && !bfloat16 {
            // Column pieces in 16s, two per worker and batch: equal shares of a memory-bound stream
            // (fixed 256-column pieces gave one worker two of 768 columns and the other one).
            let perPiece = (N + 2 * CPUParallelism.threadCount - 1) / (2 * CPUParallelism.threadCount)
            let chunk = max(16, (perPiece + 15) / 16 * 16)
            let chunks = (N + chunk - 1) / chunk
            CPUParallelism.forEachRange(batchCount * chunks, grain: max(1, (1 << 15) / max(M * K * chunk, 1))) { range in
                let (aBase, bBase, cBase) = pointers.value
                for item in range {
                    let (batch, piece) = item.quotientAndRemainder(dividingBy: chunks)
                    let (aOffset, bOffset) = batches.offsets(batch)
                    let start = piece * chunk, count = min(chunk, N - start)
                    cortex_avx512_sgemm_small_m(M, count, K, aBase + aOffset, aRow, bBase + bOffset + start * bColumn, bRow, bColumn,
                                                cBase + batch * M * N + start, N)
                }
            }
            return
        }
        let work = batchCount * M * N * K
        if batchCount > 1 || work < (1 << 18) {
            CPUParallelism.forEachRange(batchCount, grain: max(1, (1 << 18) / max(M * N * K, 1))) { range in
                for batch in range { block(batch, rows: 0..<M, columns: 0..<N) }
            }
            return
        }
        let workers = CPUParallelism.threadCount
        let (aBase, bBase, cBase) = pointers.value
        // A small output from a deep product (a weight gradient, with a batch folded into K):
        // split K instead, one slice per worker summed at the end, and compute C^T = B^T A^T
        // where its shape fills the 12 x 32 tiles better (a 32 x 9 gradient fills a 12 x 32
        // tile a quarter full, its 9 x 32 transpose three quarters).
        if workers > 1 && K >= 8 * max(M, N) && M * N <= (1 << 18) {
            func filled(_ rows: Int, _ columns: Int) -> Double {
                Double(rows * columns) / Double(((rows + 11) / 12 * 12) * ((columns + 31) / 32 * 32))
            }
            let transpose = filled(N, M) > 1.25 * filled(M, N)
            let partialStorage = Storage.host(dtype: .float32, count: (transpose ? workers : workers - 1) * M * N)
            defer { withExtendedLifetime(partialStorage) {} }
            let partials = partialStorage.floats()
            let sendable = UncheckedSendable(partials)
            CPUParallelism.forEachRange(workers, grain: 1) { range in
                for worker in range {
                    let start = K * worker / workers, end = K * (worker + 1) / workers
                    let slice = (a: aBase + start * aColumn, b: bBase + start * bRow)
                    if transpose {
                        gemm(N, M, end - start, slice.b, bColumn, bRow, slice.a, aColumn, aRow, sendable.value + worker * M * N, M)
                    } else {
                        gemm(M, N, end - start, slice.a, aRow, aColumn, slice.b, bRow, bColumn,
                             worker == 0 ? cBase : sendable.value + (worker - 1) * M * N, N)
                    }
                }
            }
            let add = Int32(bitPattern: CORTEX_ADD.rawValue)
            if transpose {
                for worker in 1..<workers { cortex_binary(add, partials, 1, partials + worker * M * N, 1, partials, M * N, 0, 0) }
                partials.withMemoryRebound(to: UInt32.self, capacity: M * N) { source in
                    cBase.withMemoryRebound(to: UInt32.self, capacity: M * N) { cortex_transpose32(source, M, $0, M, N) }
                }
            } else {
                for worker in 1..<workers { cortex_binary(add, cBase, 1, partials + (worker - 1) * M * N, 1, cBase, M * N, 0, 0) }
            }
            return
        }
        // One large product, at least as tall as wide: the workers share packed panels of B.
        if M >= N {
            sharedPanelProduct(M: M, N: N, K: K, a: (aBase, aRow, aColumn), b: (bBase, bRow, bColumn), c: cBase, workers: workers,
                               bfloat16: bfloat16)
            return
        }
        // Wider than tall: a share of the columns per worker (in whole 32-column tiles); each
        // packs its own columns of B and the (smaller) A.
        CPUParallelism.forEachRange(workers, grain: 1) { range in
            for worker in range {
                let tiles = (N + 31) / 32
                let start = min(N, 32 * (tiles * worker / workers)), end = min(N, 32 * (tiles * (worker + 1) / workers))
                if start < end { block(0, rows: 0..<M, columns: start..<end) }
            }
        }
    }

    /// One large product on all workers sharing each packed k x 3072 panel of B, as BLIS does:
    /// the workers pack a share of the panel's 32-column strips, then each multiplies its rows
    /// (in 12-row multiples) against the whole panel. No worker packs what another has packed.
    /// With `bfloat16` the panels hold pairs of bfloat16 rounded from B (one 32-bit word per pair
    /// and column) and the rows multiply on the AVX512_BF16 kernel.
    func sharedPanelProduct(M: Int, N: Int, K: Int, a: (UnsafeMutablePointer<Float>, Int, Int), b: (UnsafeMutablePointer<Float>, Int, Int),
                            c: UnsafeMutablePointer<Float>, workers: Int, bfloat16: Bool = false) {
        let depth = bfloat16 ? cortex_bf16_sgemm_depth(K) : cortex_avx512_sgemm_depth(K)
        let width = bfloat16 ? cortex_bf16_sgemm_panel_width() : cortex_avx512_sgemm_panel_width()
        // Packed elements per k of a 32-column strip: 32 floats, or 16 words of bfloat16 pairs.
        func stripOffset(_ strip: Int, _ kc: Int) -> Int { bfloat16 ? strip * 32 * ((kc + 1) / 2) : strip * 32 * kc }
        let panel = Storage.host(dtype: .float32, count: depth * width)
        let pointers = UncheckedSendable((a.0, b.0, c, panel.floats()))
        let rowsPerWorker = (M + 12 * workers - 1) / (12 * workers) * 12
        for columnStart in stride(from: 0, to: N, by: width) {
            let columns = min(width, N - columnStart)
            let strips = (columns + 31) / 32
            for depthStart in stride(from: 0, to: K, by: depth) {
                let kc = min(depth, K - depthStart)
                CPUParallelism.forEachRange(workers, grain: 1) { range in
                    for worker in range {
                        let first = strips * worker / workers, last = strips * (worker + 1) / workers
                        guard first < last else { continue }
                        let (_, bBase, _, packed) = pointers.value
                        let (source, count) = (bBase + depthStart * b.1 + (columnStart + first * 32) * b.2, min(columns, last * 32) - first * 32)
                        if bfloat16 {
                            let words = UnsafeMutableRawPointer(packed + stripOffset(first, kc)).assumingMemoryBound(to: UInt32.self)
                            cortex_bf16_sgemm_pack_b(kc, count, source, b.1, b.2, words)
                        } else {
                            cortex_avx512_sgemm_pack_b(kc, count, source, b.1, b.2, packed + stripOffset(first, kc))
                        }
                    }
                }
                CPUParallelism.forEachRange(workers, grain: 1) { range in
                    for worker in range {
                        let start = min(M, worker * rowsPerWorker), end = min(M, start + rowsPerWorker)
                        guard start < end else { continue }
                        let (aBase, _, cBase, packed) = pointers.value
                        let (rows, target) = (aBase + start * a.1 + depthStart * a.2, cBase + start * N + columnStart)
                        if bfloat16 {
                            let words = UnsafeRawPointer(packed).assumingMemoryBound(to: UInt32.self)
                            cortex_bf16_sgemm_rows(end - start, columns, kc, rows, a.1, a.2, words, target, N, depthStart > 0 ? 1 : 0)
                        } else {
                            cortex_avx512_sgemm_rows(end - start, columns, kc, rows, a.1, a.2, packed, target, N, depthStart > 0 ? 1 : 0)
                        }
                    }
                }
            }
        }
        withExtendedLifetime(panel) {}
    }
}
