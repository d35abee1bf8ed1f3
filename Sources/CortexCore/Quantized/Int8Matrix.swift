import CCortexKernels

/// How the activations entering an int8 product are quantised to uint8.
///
/// `.dynamic` chooses a scale and zero point for each row from its own range, every call, as
/// PyTorch's dynamically quantised `Linear` does per tensor (per row is finer, at the same
/// cost). `.calibrated` fixes one scale and zero point for every row, found beforehand from
/// calibration batches (PyTorch's static quantisation with a MinMax observer).
public enum Int8Activations: Sendable, Equatable {
    case dynamic
    case calibrated(scale: Float, zeroPoint: Int32)

    /// The calibrated parameters covering [low, high] (and 0), chosen as PyTorch's
    /// `choose_qparams` chooses them for quint8.
    public static func calibrated(low: Float, high: Float) -> Int8Activations {
        var scale: Float = 0, zero: Int32 = 0
        cortex_int8_choose_parameters(low, high, &scale, &zero)
        return .calibrated(scale: scale, zeroPoint: zero)
    }
}

/// A weight matrix (rows = output channels, columns = inputs) quantised to int8: symmetric, one
/// float scale per row, as PyTorch's `per_channel_symmetric` qint8 (scale max |row| / 127.5,
/// zero point 0, codes in [-128, 127]). Products with float inputs
/// quantise the inputs to uint8 (``Int8Activations``), sum the integer products exactly in int32
/// (AVX512-VNNI's `vpdpbusd` where the CPU has it, a portable kernel giving the same integers
/// elsewhere) and scale the sums back to float.
///
/// ```swift
/// let weights = try Int8Matrix(quantizing: linear.weight)      // (128, 784) -> int8
/// let y = try weights.product(x, bias: linear.bias)            // (64, 784) -> (64, 128)
/// ```
public final class Int8Matrix: @unchecked Sendable {
    public let rows: Int, columns: Int
    /// The codes, row-major (rows × columns), as saved.
    public let codes: [Int8]
    /// One scale per row.
    public let scales: [Float]
    /// Each row's code sum (the zero-point correction).
    let sums: [Int32]
    /// The codes in the kernels' 16-row panels.
    let packed: UnsafeMutableRawPointer

    /// Quantises a float (rows, columns) matrix.
    public convenience init(quantizing weight: Tensor) throws {
        guard weight.rank == 2 else {
            throw CortexError.shapeMismatch(operation: "Int8Matrix", shapes: [weight.shape], reason: "(the weight must be a matrix)")
        }
        let (rows, columns) = (weight.shape[0], weight.shape[1])
        let values = try weight.detach().to(.float32).contiguous()
        var codes = [Int8](repeating: 0, count: rows * columns), scales = [Float](repeating: 0, count: rows)
        let source = values.storage.pointer.assumingMemoryBound(to: Float.self) + values.layout.offset
        cortex_int8_quantize_weights(source, rows, columns, &codes, &scales)
        try self.init(codes: codes, scales: scales, rows: rows, columns: columns)
    }

    /// A matrix from saved codes and scales.
    public init(codes: [Int8], scales: [Float], rows: Int, columns: Int) throws {
        guard rows >= 0, columns > 0, codes.count == rows * columns, scales.count == rows else {
            throw CortexError.invalidArgument(operation: "Int8Matrix",
                                              reason: "\(codes.count) codes and \(scales.count) scales do not make a (\(rows), \(columns)) matrix")
        }
        if let bad = scales.firstIndex(where: { !($0 > 0) || !$0.isFinite }) {
            throw CortexError.invalidArgument(operation: "Int8Matrix", reason: "row \(bad)'s scale \(scales[bad]) is not a positive finite number")
        }
        self.rows = rows
        self.columns = columns
        self.codes = codes
        self.scales = scales
        packed = UnsafeMutableRawPointer.allocate(byteCount: max(cortex_int8_packed_bytes(rows, columns), 1), alignment: 64)
        var sums = [Int32](repeating: 0, count: rows)
        cortex_int8_pack_weights(codes, rows, columns, packed.assumingMemoryBound(to: Int8.self), &sums)
        self.sums = sums
    }

    deinit { packed.deallocate() }

    public var shape: [Int] { [rows, columns] }
    /// Bytes the codes and scales take (what a saved matrix costs).
    public var byteCount: Int { rows * columns + rows * 4 }

    /// The codes as an int8 tensor (rows, columns), for saving.
    public func codeTensor() throws -> Tensor {
        let tensor = try Tensor.empty([rows, columns], dtype: .int8)
        codes.withUnsafeBytes { tensor.storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return tensor
    }

    /// codes × scale, row by row: the float matrix the int8 one stands for.
    public func dequantized() throws -> Tensor {
        var values = [Float](repeating: 0, count: rows * columns)
        for row in 0..<rows {
            for column in 0..<columns { values[row * columns + column] = Float(codes[row * columns + column]) * scales[row] }
        }
        return try Tensor(values, shape: [rows, columns])
    }

    /// x Wᵀ + bias for x (..., columns): (..., rows), float32. Not differentiable.
    public func product(_ x: Tensor, bias: Tensor? = nil, activations: Int8Activations = .dynamic) throws -> Tensor {
        guard x.rank >= 1, x.shape.last == columns else {
            throw CortexError.shapeMismatch(operation: "Int8Matrix.product", shapes: [x.shape, shape],
                                            reason: "(the input's last dimension must be the matrix's \(columns) columns)")
        }
        if let bias, bias.shape != [rows] {
            throw CortexError.shapeMismatch(operation: "Int8Matrix.product", shapes: [bias.shape, shape], reason: "(the bias must have one value per row)")
        }
        let input = try x.detach().to(.float32).contiguous()
        let count = input.count / columns
        let output = try Tensor.empty(Array(x.shape.dropLast()) + [rows])
        if count == 0 || rows == 0 { return output }
        FLOPCounter.record(.matmul, 2 * count * rows * columns)
        let quantized = try Int8Matrix.quantizeRows(input, count: count, columns: columns, activations: activations)
        defer { quantized.codes.deallocate() }
        let biasValues = try bias.map { try $0.detach().to(.float32).contiguous() }
        let y = UncheckedSendable(output.storage.pointer.assumingMemoryBound(to: Float.self))
        let biasPointer = UncheckedSendable(biasValues.map { UnsafePointer($0.storage.pointer.assumingMemoryBound(to: Float.self) + $0.layout.offset) })
        let codes = UncheckedSendable(UnsafePointer(quantized.codes.assumingMemoryBound(to: UInt8.self)))
        let weights = UncheckedSendable(UnsafePointer(packed.assumingMemoryBound(to: Int8.self)))
        let (rows, columns, stride) = (rows, columns, quantized.stride)
        quantized.scales.withUnsafeBufferPointer { rowScales in
            quantized.zeroPoints.withUnsafeBufferPointer { rowZeros in
                scales.withUnsafeBufferPointer { columnScales in
                    sums.withUnsafeBufferPointer { columnSums in
                        let pointers = UncheckedSendable((rowScales.baseAddress!, rowZeros.baseAddress!, columnScales.baseAddress!, columnSums.baseAddress!))
                        Int8Matrix.forEachTile(count: count, rows: rows, columns: columns) { first, end, firstPanel, endPanel in
                            let (rowScales, rowZeros, columnScales, columnSums) = pointers.value
                            cortex_int8_linear(codes.value, stride, rowScales, rowZeros, first, end, weights.value, columnScales, columnSums,
                                               biasPointer.value, rows, columns, firstPanel, endPanel, y.value, rows)
                        }
                    }
                }
            }
        }
        return output
    }

    /// The exact int32 sums Σ_k a[i][k] · w[j][k] for uint8 codes a (count × columns, row-major):
    /// what the float product scales, for checks against a reference.
    public func integerProduct(_ a: [UInt8], count: Int) throws -> [Int32] {
        guard a.count == count * columns else {
            throw CortexError.invalidArgument(operation: "Int8Matrix.integerProduct", reason: "\(a.count) codes are not \(count) rows of \(columns)")
        }
        let stride = cortex_int8_padded_inputs(columns)
        var padded = [UInt8](repeating: 0, count: count * stride)
        for row in 0..<count { for column in 0..<columns { padded[row * stride + column] = a[row * columns + column] } }
        var result = [Int32](repeating: 0, count: count * rows)
        let (rows, columns) = (rows, columns)
        let weights = UncheckedSendable(UnsafePointer(packed.assumingMemoryBound(to: Int8.self)))
        padded.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                let pointers = UncheckedSendable((source.baseAddress!, target.baseAddress!))
                Int8Matrix.forEachTile(count: count, rows: rows, columns: columns) { first, end, firstPanel, endPanel in
                    cortex_int8_gemm_s32(pointers.value.0, stride, first, end, weights.value, rows, columns, firstPanel, endPanel,
                                         pointers.value.1, rows)
                }
            }
        }
        return result
    }

    /// Input rows quantised to uint8, each padded with zeros to whole groups of 4.
    struct QuantizedRows {
        let codes: UnsafeMutableRawPointer
        let stride: Int
        var scales: [Float], zeroPoints: [Int32]
    }

    static func quantizeRows(_ input: Tensor, count: Int, columns: Int, activations: Int8Activations) throws -> QuantizedRows {
        let stride = cortex_int8_padded_inputs(columns)
        var rows = QuantizedRows(codes: UnsafeMutableRawPointer.allocate(byteCount: count * stride, alignment: 64), stride: stride,
                                 scales: [Float](repeating: 0, count: count), zeroPoints: [Int32](repeating: 0, count: count))
        let (fixedScale, fixedZero): (Float, Int32)
        switch activations {
        case .dynamic: (fixedScale, fixedZero) = (0, 0)
        case let .calibrated(scale, zeroPoint):
            guard scale > 0, scale.isFinite, (0...255).contains(zeroPoint) else {
                rows.codes.deallocate()
                throw CortexError.invalidArgument(operation: "Int8Matrix.product", reason: "calibrated scale \(scale) and zero point \(zeroPoint) are not a quint8 quantisation")
            }
            (fixedScale, fixedZero) = (scale, zeroPoint)
        }
        let x = UncheckedSendable(UnsafePointer(input.storage.pointer.assumingMemoryBound(to: Float.self) + input.layout.offset))
        let codes = UncheckedSendable(rows.codes.assumingMemoryBound(to: UInt8.self))
        rows.scales.withUnsafeMutableBufferPointer { scales in
            rows.zeroPoints.withUnsafeMutableBufferPointer { zeros in
                let targets = UncheckedSendable((scales.baseAddress!, zeros.baseAddress!))
                CPUParallelism.forEachRange(count, grain: max(1, 32_768 / columns)) { part in
                    let (scales, zeros) = targets.value
                    cortex_int8_quantize_rows(x.value + part.lowerBound * columns, columns, part.count, columns,
                                              codes.value + part.lowerBound * stride, stride, scales + part.lowerBound,
                                              zeros + part.lowerBound, fixedScale, fixedZero)
                }
            }
        }
        return rows
    }

    /// Splits a (count × rows) product among the workers in tiles of up to 64 input rows by 4
    /// panels (64 output channels). Tiles are numbered panel group first, so a worker's run of
    /// tiles reuses one group of weights (in cache) over consecutive input rows.
    static func forEachTile(count: Int, rows: Int, columns: Int, _ body: (Int, Int, Int, Int) -> Void) {
        let panels = (rows + 15) / 16, groups = (panels + 3) / 4
        let rowBlock = 64, rowBlocks = (count + rowBlock - 1) / rowBlock
        // About 2^20 multiply-adds per worker at least before a region is worth waking workers.
        let grain = max(1, (1 << 20) / (rowBlock * 64 * columns))
        CPUParallelism.forEachRange(groups * rowBlocks, grain: grain) { part in
            for tile in part {
                let (group, block) = tile.quotientAndRemainder(dividingBy: rowBlocks)
                body(block * rowBlock, min((block + 1) * rowBlock, count), group * 4, min(group * 4 + 4, panels))
            }
        }
    }
}
