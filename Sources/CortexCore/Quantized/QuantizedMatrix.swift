import CCortexKernels
import Foundation

/// Block formats of quantised weights, with ggml's names and type ids (what GGUF files store).
public enum QuantizationFormat: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q2K = 10, q3K = 11, q4K = 12, q5K = 13, q6K = 14, bf16 = 30

    /// Values per block and bytes per block.
    public var blockSize: Int { cortex_quant_block_size(rawValue) }
    public var blockBytes: Int { cortex_quant_type_size(rawValue) }

    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q8_0: "Q8_0"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q2K: "Q2_K"
        case .q3K: "Q3_K"
        case .q4K: "Q4_K"
        case .q5K: "Q5_K"
        case .q6K: "Q6_K"
        }
    }

    static var allNames: String { allCases.map(\.description).joined(separator: ", ") }

    /// The format named as ggml names it, in any case ("q8_0", "Q4_K", "f16").
    public init?(name: String) {
        guard let format = Self.allCases.first(where: { $0.description.lowercased() == name.lowercased() }) else { return nil }
        self = format
    }
}

/// A (rows, columns) weight matrix kept in its quantised blocks, row after row, usually viewing
/// a memory-mapped GGUF file. Products compute from the blocks (no dequantised copy of the
/// whole matrix is ever made): a few input rows take a matrix-vector kernel that dequantises
/// each block in registers; more take tiles of dequantised rows through the GEMM.
///
/// ```swift
/// let weight = try file.matrix("blk.0.ffn_up.weight")    // (1536, 576), Q4_1
/// let hidden = try weight.product(x)                      // x (..., 576) -> (..., 1536), as x Wᵀ
/// ```
public struct QuantizedMatrix: @unchecked Sendable {
    public let format: QuantizationFormat
    public let rows: Int, columns: Int
    /// Bytes of one row's blocks.
    public let rowBytes: Int
    let bytes: UnsafeRawPointer
    let owner: AnyObject
    /// The rows repacked sixteen at a time for the integer path (``packedForBatches()``), or nil.
    let packed: PackedRows?

    /// Views `rows` rows of `columns` values in `format` blocks at `bytes`, kept alive by `owner`.
    public init(format: QuantizationFormat, rows: Int, columns: Int, bytes: UnsafeRawPointer, owner: AnyObject) throws {
        guard rows >= 0, columns >= 0, columns % format.blockSize == 0 else {
            throw CortexError.invalidArgument(operation: "QuantizedMatrix",
                                              reason: "rows of \(columns) values are not a whole number of \(format) blocks of \(format.blockSize)")
        }
        self.format = format
        self.rows = rows
        self.columns = columns
        rowBytes = columns / format.blockSize * format.blockBytes
        self.bytes = bytes
        self.owner = owner
        packed = nil
    }

    private init(_ matrix: QuantizedMatrix, packed: PackedRows) {
        (format, rows, columns, rowBytes, bytes, owner) = (matrix.format, matrix.rows, matrix.columns, matrix.rowBytes, matrix.bytes, matrix.owner)
        self.packed = packed
    }

    /// Q4_0, Q4_1 and Q8_0 rows repacked sixteen at a time, for the integer kernel whose sixteen
    /// lanes are sixteen rows (quant_packed.c): no sums across lanes, so a continuous batch of
    /// decoding streams costs a fraction of what the row-major blocks cost it.
    final class PackedRows: @unchecked Sendable {
        let bytes: UnsafeMutableRawPointer
        /// The groups' largest block sums, once ``refinedChoices(_:exact:)`` has needed them.
        let normsLock = NSLock()
        var norms: [Float]?
        init(byteCount: Int) { bytes = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64) }
        deinit { bytes.deallocate() }
    }

    /// Whether ``packedForBatches()`` repacks this matrix: Q4_0, Q4_1 or Q8_0, rows a multiple
    /// of 16, on a CPU with the integer path.
    public var isPackable: Bool {
        cortex_quant_has_integer_path(format.rawValue, columns) != 0 && cortex_quant_packable(format.rawValue, rows, columns) != 0
    }

    /// Whether the integer path reads this matrix's repacked rows.
    public var isPacked: Bool { packed != nil }

    /// Whether model loaders repack their quantised matrices for the integer path
    /// (``packedForBatches()``): yes unless CORTEX_REPACK is 0. Repacking costs a copy of the
    /// blocks at load and pays at every batch size (measured on Zen 4 with SmolLM2 Q4_1: one
    /// stream 126 to 137 tokens/s, eight streams 275 to 398).
    public static let repacksWeights = ProcessInfo.processInfo.environment["CORTEX_REPACK"] != "0"

    /// ``packedForBatches()`` where ``repacksWeights``, else itself.
    public func packedIfRepacking() -> QuantizedMatrix { QuantizedMatrix.repacksWeights ? packedForBatches() : self }

    /// This matrix with its rows also repacked for the integer path (a copy of the blocks, as
    /// many bytes again), which its products then read; itself where not ``isPackable``. The
    /// row-major blocks still serve embedding lookups and the float matrix-vector path (products
    /// with float activations); dequantising (the float path of longer products, gradients)
    /// reads the packed rows. Where the blocks view a mapped file, their pages leave resident
    /// memory until a lookup reads them.
    ///
    /// ```swift
    /// let up = try file.matrix("blk.0.ffn_up.weight").packedForBatches()
    /// ```
    public func packedForBatches() -> QuantizedMatrix {
        guard packed == nil, isPackable else { return self }
        let rows = PackedRows(byteCount: byteCount)
        _ = cortex_quant_pack16(format.rawValue, bytes, rowBytes, self.rows, columns, rows.bytes)
        // The mapped blocks leave resident memory until a lookup or the float path reads them.
        (owner as? MappedFile)?.releasePages(bytes, count: byteCount)
        return QuantizedMatrix(self, packed: rows)
    }

    public var shape: [Int] { [rows, columns] }
    /// Bytes the blocks take.
    public var byteCount: Int { rows * rowBytes }

    /// The whole matrix as float32 (for checks and small tensors such as norms).
    public func dequantized() throws -> Tensor { try dequantizedRows(0..<rows) }

    /// Rows `range` as a (count, columns) float32 tensor.
    public func dequantizedRows(_ range: Range<Int>) throws -> Tensor {
        guard range.lowerBound >= 0, range.upperBound <= rows else {
            throw CortexError.indexOutOfRange(operation: "QuantizedMatrix.dequantizedRows", index: range.upperBound, bound: rows + 1)
        }
        let output = try Tensor.empty([range.count, columns])
        try dequantize(range, into: output)
        return output
    }

    private func dequantize(_ range: Range<Int>, into output: Tensor) throws {
        let destination = UncheckedSendable(output.storage.pointer.assumingMemoryBound(to: Float.self) + output.layout.offset)
        let source = UncheckedSendable(bytes)
        let (format, columns, rowBytes, first) = (format, columns, rowBytes, range.lowerBound)
        let packedSource = UncheckedSendable(packed.map { UnsafeRawPointer($0.bytes) })
        CPUParallelism.forEachRange(range.count, grain: max(1, 16_384 / max(columns, 1))) { part in
            // Packed matrices dequantise from their packed rows, so that the row-major pages,
            // released from memory when packing, stay out of it.
            if let packed = packedSource.value {
                cortex_quant_dequantize_packed(format.rawValue, packed, columns, first + part.lowerBound, part.count,
                                               destination.value + part.lowerBound * columns)
            } else {
                cortex_quant_dequantize(format.rawValue, source.value + (first + part.lowerBound) * rowBytes,
                                        destination.value + part.lowerBound * columns, part.count * columns)
            }
        }
    }

    /// The rows named by `ids` (an embedding lookup), as a float32 tensor of shape ids.shape + [columns].
    public func gatherRows(_ ids: Tensor) throws -> Tensor {
        let indices = try ids.toIntArray()
        if let outside = indices.first(where: { $0 < 0 || $0 >= rows }) {
            throw CortexError.indexOutOfRange(operation: "QuantizedMatrix.gatherRows", index: outside, bound: rows)
        }
        let output = try Tensor.empty(ids.shape + [columns])
        let destination = output.storage.pointer.assumingMemoryBound(to: Float.self)
        for (position, row) in indices.enumerated() {
            cortex_quant_dequantize(format.rawValue, bytes + row * rowBytes, destination + position * columns, columns)
        }
        return output
    }

    /// x Wᵀ for x (..., columns): (..., rows), float32. Differentiable with respect to x (the
    /// gradient flows through the dequantised matrix: attributions and adapters on a quantised
    /// model), never with respect to the weights, which stay in their blocks.
    public func product(_ x: Tensor) throws -> Tensor {
        let output = try inferenceProduct(x)
        guard GradMode.isEnabled && x.requiresGrad else { return output }   // decoding: no graph, no closure
        return output.recorded("QuantizedMatrix.product", [x]) { [self] gradient in [try inputGradient(gradient)] }
    }

    /// An F32 matrix as a (rows, columns) tensor viewing its bytes, no copy (nil for the other
    /// formats, and for bytes not on a 4-byte boundary): the float path's GEMM reads it
    /// directly instead of tiles copied from it.
    private var floatView: Tensor? {
        guard format == .f32, Int(bitPattern: bytes) % 4 == 0 else { return nil }
        let storage = Storage.host(dtype: .float32, count: rows * columns, borrowing: UnsafeMutableRawPointer(mutating: bytes), owner: owner)
        return Tensor(storage: storage, layout: Layout(contiguous: [rows, columns]))
    }

    /// dL/dx = dL/dy · W for dL/dy (..., rows), the matrix dequantised a tile of rows at a time.
    func inputGradient(_ gradient: Tensor) throws -> Tensor {
        let count = gradient.count / max(rows, 1)
        let flat = try gradient.contiguous().reshape([count, rows])
        if let weights = floatView { return try flat.matmul(weights).reshape(Array(gradient.shape.dropLast()) + [columns]) }
        var result = try Tensor.zeros([count, columns])
        let tileRows = min(rows, max(16, ((1 << 19) - 4096) / max(columns, 1)))
        for start in stride(from: 0, to: rows, by: tileRows) {
            let end = min(start + tileRows, rows)
            let piece = try Tensor.empty([end - start, columns])
            try dequantize(start..<end, into: piece)
            result = try result + flat.slice(axis: 1, start: start, end: end).matmul(piece)
        }
        return try result.reshape(Array(gradient.shape.dropLast()) + [columns])
    }

    private func inferenceProduct(_ x: Tensor) throws -> Tensor {
        guard x.rank >= 1, x.shape.last == columns else {
            throw CortexError.shapeMismatch(operation: "QuantizedMatrix.product", shapes: [x.shape, shape],
                                            reason: "(the input's last dimension must be the matrix's \(columns) columns)")
        }
        let input = try x.detach().to(.float32).contiguous()
        let count = input.count / max(columns, 1)
        let output = try Tensor.empty(Array(x.shape.dropLast()) + [rows])
        if count == 0 || rows == 0 { return output }
        FLOPCounter.record(.matmul, 2 * count * rows * columns)
        let mode = path(rows: count)
        if mode != .float {
            try QuantizedMatrix.integerProducts([self], input, count: count, into: [output], refined: mode == .refined)
            return output
        }
        if count <= vectorRows {
            let source = UncheckedSendable(bytes)
            let xs = UncheckedSendable(UnsafePointer(input.storage.pointer.assumingMemoryBound(to: Float.self) + input.layout.offset))
            let ys = UncheckedSendable(output.storage.pointer.assumingMemoryBound(to: Float.self))
            let (format, columns, rowBytes, rows) = (format, columns, rowBytes, rows)
            CPUParallelism.forEachPiece(rows, piece: 64, grain: max(1, 32_768 / max(columns, 1))) { part in
                cortex_quant_matvec(format.rawValue, source.value + part.lowerBound * rowBytes, rowBytes, part.count, columns,
                                    xs.value, columns, count, ys.value + part.lowerBound, rows)
            }
            return output
        }
        if let weights = floatView {
            return try input.reshape([count, columns]).matmul(weights.mT).reshape(Array(x.shape.dropLast()) + [rows])
        }
        // Tiles of rows dequantised into a buffer of one fixed size (just under 2 MiB, so no
        // huge page), whatever the matrix: the allocator hands the same block back to every
        // product, each tile going through the GEMM. Rows too long for 16 of them to fit get a
        // buffer of 16 rows.
        let scratchFloats = (1 << 19) - 4096
        let tileRows = min(rows, max(16, scratchFloats / columns))
        let buffer = try Tensor.empty([max(scratchFloats, tileRows * columns)])
        let flatInput = try input.reshape([count, columns]), flatOutput = try output.reshape([count, rows])
        for start in stride(from: 0, to: rows, by: tileRows) {
            let end = min(start + tileRows, rows)
            let piece = try buffer.slice(axis: 0, start: 0, end: (end - start) * columns).reshape([end - start, columns])
            try dequantize(start..<end, into: piece)
            try flatOutput.slice(axis: 1, start: start, end: end).copy(from: flatInput.matmul(piece.mT))
        }
        return output
    }

    /// Products of several matrices with the same input (a layer's query, key and value
    /// projections; its gate and up projections): x W₀ᵀ, x W₁ᵀ, ..., as `product` gives each,
    /// with the input quantised once and every matrix's tiles in one parallel region.
    public static func products(_ matrices: [QuantizedMatrix], _ x: Tensor) throws -> [Tensor] {
        guard let first = matrices.first, x.rank >= 1, x.shape.last == first.columns,
              matrices.allSatisfy({ $0.columns == first.columns }) else {
            return try matrices.map { try $0.product(x) }
        }
        if GradMode.isEnabled && x.requiresGrad { return try matrices.map { try $0.product(x) } }
        let count = x.count / max(first.columns, 1)
        let mode = first.path(rows: count)
        guard count >= 1, mode != .float, matrices.allSatisfy({ $0.rows > 0 && $0.path(rows: count) == mode }) else {
            return try matrices.map { try $0.product(x) }
        }
        let input = try x.detach().to(.float32).contiguous()
        let outputs = try matrices.map { try Tensor.empty(Array(x.shape.dropLast()) + [$0.rows]) }
        try integerProducts(matrices, input, count: count, into: outputs, refined: mode == .refined)
        for matrix in matrices { FLOPCounter.record(.matmul, 2 * count * matrix.rows * matrix.columns) }
        return outputs
    }

    /// The path a product with `count` input rows takes under the task's ``activations``:
    /// `.float` for more rows than the matrix-vector kernels take, or where this format or CPU
    /// has no integer path. Refined codes cost row-major Q8_0 more than its float path does
    /// (measured on Zen 4: 141 against 155 tokens/s of SmolLM2 with its Q8_0 output
    /// projection), so Q8_0 takes the float path for them unless its rows are packed.
    func path(rows count: Int) -> Activations {
        let mode = QuantizedMatrix.activations
        guard mode != .float, count <= vectorRows, cortex_quant_has_integer_path(format.rawValue, columns) != 0 else { return .float }
        return mode == .refined && format == .q8_0 && packed == nil ? .float : mode
    }

    /// The integer path for matrices sharing one input (all with the same columns): the
    /// `count` input rows quantised to 8 bits once (blocks of 32), then the 4-row tiles of all
    /// the matrices, numbered in order, split among the workers. `refined` quantises each row
    /// twice over (its codes, then their rounding error) and sums the two products.
    static func integerProducts(_ matrices: [QuantizedMatrix], _ input: Tensor, count: Int, into outputs: [Tensor], refined: Bool = false) throws {
        let columns = matrices[0].columns
        let vectors = refined ? 2 * count : count
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: cortex_q8_activation_bytes(columns, vectors), alignment: 64)
        defer { buffer.deallocate() }
        let x = input.storage.pointer.assumingMemoryBound(to: Float.self) + input.layout.offset
        if refined { cortex_q8_quantize_refined(x, columns, columns, count, buffer) } else { cortex_q8_quantize(x, columns, columns, count, buffer) }
        let activations = UncheckedSendable(UnsafeRawPointer(buffer))
        // Packed matrices read the codes regrouped eight vectors at a time.
        let interleaved = matrices.contains { $0.packed != nil }
            ? UnsafeMutableRawPointer.allocate(byteCount: cortex_q8_interleaved_bytes(columns, vectors), alignment: 64) : nil
        defer { interleaved?.deallocate() }
        if let interleaved { cortex_q8_interleave(buffer, columns, vectors, interleaved) }
        let regrouped = UncheckedSendable(interleaved.map { UnsafeRawPointer($0) })
        // The refined products land in twice the rows; each piece then sums its rows' pairs
        // into the output while they are in cache.
        let targets = refined ? try matrices.map { try Tensor.empty([vectors, $0.rows]) } : outputs
        // Units of 16 rows (a packed matrix's groups; four 4-row tiles of a row-major one).
        let jobs = UncheckedSendable(zip(matrices, zip(targets, outputs)).map { matrix, tensors in
            (matrix: matrix, y: tensors.0.storage.pointer.assumingMemoryBound(to: Float.self),
             output: tensors.1.storage.pointer.assumingMemoryBound(to: Float.self) + tensors.1.layout.offset, units: (matrix.rows + 15) / 16)
        })
        let totalUnits = jobs.value.reduce(0) { $0 + $1.units }
        CPUParallelism.forEachPiece(totalUnits, piece: 4, grain: max(1, 2_048 / max(columns, 1))) { part in
            var firstUnit = 0
            for job in jobs.value {
                let start = max(part.lowerBound, firstUnit) - firstUnit, end = min(part.upperBound, firstUnit + job.units) - firstUnit
                firstUnit += job.units
                guard start < end else { continue }
                let (matrix, firstRow, endRow) = (job.matrix, start * 16, min(end * 16, job.matrix.rows))
                if let packed = matrix.packed, let codes = regrouped.value {
                    cortex_quant_matvec_packed(matrix.format.rawValue, packed.bytes + firstRow * matrix.rowBytes, endRow - firstRow, columns,
                                               codes, vectors, job.y + firstRow, matrix.rows)
                } else {
                    cortex_quant_matvec_integer(matrix.format.rawValue, matrix.bytes + firstRow * matrix.rowBytes, matrix.rowBytes,
                                                endRow - firstRow, columns, activations.value, vectors, job.y + firstRow, matrix.rows)
                }
                guard refined else { continue }
                let rows = matrix.rows
                for vector in 0..<count {
                    let (codes, rest, sum) = (job.y + 2 * vector * rows, job.y + (2 * vector + 1) * rows, job.output + vector * rows)
                    for row in firstRow..<endRow { sum[row] = codes[row] + rest[row] }
                }
            }
        }
        withExtendedLifetime(targets) {}
    }

    /// How products with few input rows (decoding) treat the activations.
    public enum Activations: String, Sendable, CaseIterable {
        /// Quantised to 8 bits per block of 32 once per product and multiplied with integer dot
        /// products (AVX512-VNNI), as llama.cpp computes: the default where the CPU has VNNI,
        /// for every quantised format (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K).
        case integer
        /// Quantised twice over, as two vectors of 8-bit codes (the activation's, then its
        /// rounding error's), whose integer products sum to within about 1/32,000 of each
        /// block's largest value of the float product: float32's accuracy for logits at the
        /// integer path's memory traffic and up to twice its arithmetic. Language models take
        /// it for their output projection. (Q8_0 takes the float path instead: faster there.)
        case refined
        /// Kept float32: each weight dequantised as ggml's reference does, so products equal the
        /// dense product with the dequantised weights up to summation order (the path the
        /// parity tests against transformers take).
        case float
    }

    /// The activations' treatment for quantised products run by this task (and the code it
    /// calls synchronously): CORTEX_QUANT_ACTIVATIONS (`integer`, `refined` or `float`), else
    /// `.integer`. Formats or CPUs without the integer path use the float path whatever this says.
    ///
    /// ```swift
    /// let logits = try QuantizedMatrix.$activations.withValue(.float) {
    ///     try model(ids)    // exact parity with transformers' float32
    /// }
    /// ```
    @TaskLocal public static var activations: Activations =
        ProcessInfo.processInfo.environment["CORTEX_QUANT_ACTIVATIONS"].flatMap(Activations.init(rawValue:)) ?? .integer

    /// The treatment for a model's output projection (its logits): refined wherever the layers
    /// take an integer path, since 8-bit codes of the final hidden state flip greedy answers
    /// (SmolLM2 answers "What is the capital of France?" with "L'Étoile, la Marseillaise, ..."
    /// from them, as llama.cpp does, and with Paris from float32 or refined codes).
    public static var outputActivations: Activations { activations == .float ? .float : .refined }

    /// Input rows up to which products take the matrix-vector kernel (decoding a few tokens, or
    /// a continuous batch): 32 for the formats whose kernel dequantises each chunk once for all
    /// rows, 8 for the K formats, which dequantise per row.
    var vectorRows: Int { format == .q4K || format == .q6K ? 8 : 32 }
}
