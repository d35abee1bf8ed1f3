import CCortexKernels
import Foundation

/// Greedy decoding through a refined output projection at the cost of one 8-bit product.
///
/// The refined treatment (``QuantizedMatrix/Activations/refined``) multiplies the matrix by
/// each input row twice: by its 8-bit codes, then by the codes of their rounding error, and
/// sums the two. A greedy sequence needs only the largest sum. The second product of a row is
/// at most the sum, block by block, of the row's absolute weights times 128 times the second
/// codes' block scale. So once the first products are known, only the 16-row groups where some
/// row's first product plus that bound reaches the best sum found so far can hold the largest
/// sum, and only those are multiplied a second time. The choice is the one the full refined
/// product gives, ties to the first index included: the same arithmetic decides it.
///
/// With several decoding streams the second product is arithmetic the weights' reads no longer
/// hide. SmolLM2's output projection (Q8_0, 49,152 rows) on Zen 4: 1.8 ms for 8 refined rows,
/// 1.0 ms for their choices; 0.71 and 0.54 ms for 3. With one or two rows the second product
/// hides behind the reads, and every row takes the full product.
extension QuantizedMatrix {
    /// For `x` (count, columns): the products (count, rows) and each row's first index of its
    /// largest product. Where `exact[i]` the row of products is the refined one (what
    /// ``product(_:)`` gives under `.refined`); elsewhere only its choice is, and the row holds
    /// the first (8-bit) product. Matrices or tasks off the refined packed path, and fewer than
    /// `Self.choiceRows` inexact rows, compute every row as ``product(_:)`` does.
    public func refinedChoices(_ x: Tensor, exact: [Bool]) throws -> (products: Tensor, choices: [Int]) {
        let count = x.rank == 2 ? x.shape[0] : 0
        guard x.rank == 2, x.shape[1] == columns, exact.count == count, exact.count(where: { !$0 }) >= Self.choiceRows, rows > 0, let packed,
              path(rows: count) == .refined, !(GradMode.isEnabled && x.requiresGrad) else {
            let products = try product(x).contiguous()
            return (products, products.firstLargestIndices())
        }
        let input = try x.detach().to(.float32).contiguous()
        let activations = UnsafeMutableRawPointer.allocate(byteCount: cortex_q8_activation_bytes(columns, 2 * count), alignment: 64)
        defer { activations.deallocate() }
        cortex_q8_quantize_refined(input.storage.pointer.assumingMemoryBound(to: Float.self) + input.layout.offset, columns, columns, count, activations)
        FLOPCounter.record(.matmul, 2 * count * rows * columns)

        // The first products of every row (vectors 2i), then the second (2i + 1) of the exact rows.
        let products = try Tensor.empty([count, rows])
        let output = products.storage.pointer.assumingMemoryBound(to: Float.self)
        try packedProducts(packed, activations, vectors: (0..<count).map { 2 * $0 }, total: 2 * count, into: output)
        let exactRows = (0..<count).filter { exact[$0] }
        if !exactRows.isEmpty {
            let second = UnsafeMutablePointer<Float>.allocate(capacity: exactRows.count * rows)
            defer { second.deallocate() }
            try packedProducts(packed, activations, vectors: exactRows.map { 2 * $0 + 1 }, total: 2 * count, into: second)
            for (place, row) in exactRows.enumerated() {
                let (sum, rest) = (output + row * rows, second + place * rows)
                for index in 0..<rows { sum[index] = sum[index] + rest[index] }
            }
        }
        // The exact rows' choices from their sums; each inexact row's from the groups that could
        // hold it, the rows shared between the workers.
        var choices = [Int](repeating: 0, count: count)
        for row in exactRows { choices[row] = cortex_first_largest(output + row * rows, rows) }
        let greedy = (0..<count).filter { !exact[$0] }
        let norms = try packed.groupNorms { try largestBlockSums() }
        let blocks = columns / 32
        let scales = Self.blockScales(activations, columns: columns, vectors: 2 * count)
        let picked = UnsafeMutablePointer<Int>.allocate(capacity: greedy.count)
        defer { picked.deallocate() }
        let shared = UncheckedSendable((activations: UnsafeRawPointer(activations), output: UnsafePointer(output), scales: scales,
                                        picked: picked, packed: UnsafeRawPointer(packed.bytes)))
        let (format, height, width, total) = (format, rows, columns, 2 * count)
        norms.withUnsafeBufferPointer { norms in
            let groupNorms = UncheckedSendable(norms.baseAddress!)
            CPUParallelism.forEachRange(greedy.count, grain: 1) { part in
                let interleaved = UnsafeMutableRawPointer.allocate(byteCount: cortex_q8_interleaved_bytes(width, 1), alignment: 64)
                let bound = UnsafeMutablePointer<Float>.allocate(capacity: (height + 15) / 16)
                defer { interleaved.deallocate(); bound.deallocate() }
                for place in part {
                    let row = greedy[place]
                    var order = [2 * row + 1]
                    cortex_q8_interleave_selected(shared.value.activations, width, total, &order, 1, interleaved)
                    shared.value.picked[place] = cortex_quant_refined_choice(format.rawValue, shared.value.packed, height, width, interleaved,
                                                                             shared.value.output + row * height, groupNorms.value,
                                                                             shared.value.scales.baseAddress! + (2 * row + 1) * blocks, bound)
                }
            }
        }
        for (place, row) in greedy.enumerated() { choices[row] = picked[place] }
        withExtendedLifetime(input) {}
        return (products, choices)
    }

    /// Inexact rows below which ``refinedChoices(_:exact:)`` computes full products: with one
    /// or two rows the second product hides behind the weights' reads (SmolLM2's output
    /// projection: 0.56 ms for one row either way).
    static let choiceRows = 3

    /// The products of the rows with the quantised vectors `vectors` of the `total` in
    /// `activations`, vector i's into output[i * rows...], split among the workers in 16-row groups.
    private func packedProducts(_ packed: PackedRows, _ activations: UnsafeRawPointer, vectors: [Int], total: Int,
                                into output: UnsafeMutablePointer<Float>) throws {
        let interleaved = UnsafeMutableRawPointer.allocate(byteCount: cortex_q8_interleaved_bytes(columns, vectors.count), alignment: 64)
        defer { interleaved.deallocate() }
        vectors.withUnsafeBufferPointer { cortex_q8_interleave_selected(activations, columns, total, $0.baseAddress, vectors.count, interleaved) }
        let shared = UncheckedSendable((packed: UnsafeRawPointer(packed.bytes), codes: UnsafeRawPointer(interleaved), output: output))
        let (format, height, width, rowBytes, count) = (format, rows, columns, rowBytes, vectors.count)
        CPUParallelism.forEachPiece((height + 15) / 16, piece: 4, grain: max(1, 2_048 / max(width, 1))) { part in
            let (firstRow, endRow) = (part.lowerBound * 16, min(part.upperBound * 16, height))
            cortex_quant_matvec_packed(format.rawValue, shared.value.packed + firstRow * rowBytes, endRow - firstRow, width, shared.value.codes,
                                       count, shared.value.output + firstRow, height)
        }
    }

    /// Block by block, each 16-row group's largest sum of absolute dequantised values of that
    /// block among its rows: (columns / 32) x groups.
    private func largestBlockSums() throws -> [Float] {
        let (blocks, groups) = (columns / 32, (rows + 15) / 16)
        var sums = [Float](repeating: 0, count: blocks * groups)
        let tile = 16 * max(1, (1 << 16) / max(columns, 1))
        for start in stride(from: 0, to: rows, by: tile) {
            let end = min(start + tile, rows)
            let values = try dequantizedRows(start..<end)
            let pointer = values.storage.pointer.assumingMemoryBound(to: Float.self) + values.layout.offset
            for row in start..<end {
                for block in 0..<blocks {
                    var sum: Float = 0
                    for index in 0..<32 { sum += abs(pointer[(row - start) * columns + block * 32 + index]) }
                    sums[block * groups + row / 16] = max(sums[block * groups + row / 16], sum)
                }
            }
        }
        return sums
    }

    /// The block scales of the `vectors` quantised vectors in `activations` (their layout in
    /// quant_int8.c: the codes, rounded up to 64 bytes, then every vector's block scales).
    private static func blockScales(_ activations: UnsafeRawPointer, columns: Int, vectors: Int) -> UnsafeBufferPointer<Float> {
        let base = UnsafeRawPointer(bitPattern: (Int(bitPattern: activations) + 63) & ~63)!
        let codes = (vectors * columns + 63) & ~63
        return UnsafeBufferPointer(start: (base + codes).assumingMemoryBound(to: Float.self), count: vectors * (columns / 32))
    }
}

extension QuantizedMatrix.PackedRows {
    /// The groups' largest block sums (``QuantizedMatrix/refinedChoices(_:exact:)``), computed on first use.
    func groupNorms(_ compute: () throws -> [Float]) rethrows -> [Float] {
        normsLock.lock()
        defer { normsLock.unlock() }
        if let norms { return norms }
        let computed = try compute()
        norms = computed
        return computed
    }
}

extension Tensor {
    /// For a contiguous float32 matrix (rows, width): each row's first index of its largest
    /// value (what greedy sampling picks from a row of logits).
    public func firstLargestIndices() -> [Int] {
        guard rank == 2, dtype == .float32, layout.isContiguous else { return [] }
        let (count, width) = (shape[0], shape[1])
        let base = storage.pointer.assumingMemoryBound(to: Float.self) + layout.offset
        return (0..<count).map { cortex_first_largest(base + $0 * width, width) }
    }
}
