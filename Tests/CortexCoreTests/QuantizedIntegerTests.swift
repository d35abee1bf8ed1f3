import CCortexKernels
import Foundation
import Testing
@testable import CortexCore
import CortexTestSupport

/// The integer path of quantised products (activations quantised to 8 bits per block of 32,
/// VNNI dot products over the weight blocks): exactly the product of the dequantised weights
/// with the quantised-then-dequantised activations (float32 rounding aside, rtol 1e-4), and
/// within 2% (relative RMS) of the float path; refined (two codes per activation) within 1e-4. Matrices of 11 random rows (4-row tiles and a
/// remainder) meet 1 to 7 vectors (tiles of 4, 2 and 1).
@Suite struct QuantizedIntegerTests {
    static let formats: [QuantizationFormat] = [.q8_0, .q4_0, .q4_1, .q4K, .q6K]

    /// Owns the bytes of a matrix made in a test.
    final class Blocks {
        let bytes: UnsafeMutableRawPointer
        init(count: Int) { bytes = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64) }
        deinit { bytes.deallocate() }
    }

    /// Random blocks whose float16 scales are small and finite (every other byte pattern is a
    /// valid block).
    static func randomMatrix(_ format: QuantizationFormat, rows: Int, columns: Int, seed: UInt64) throws -> QuantizedMatrix {
        let rowBytes = columns / format.blockSize * format.blockBytes
        let blocks = Blocks(count: rows * rowBytes)
        let generator = RandomGenerator(seed: seed)
        let bytes = blocks.bytes.assumingMemoryBound(to: UInt8.self)
        for index in 0..<(rows * rowBytes) { bytes[index] = UInt8(generator.integer(below: 256)) }
        func half(_ value: Float, at offset: Int) {
            let bits = Float16(value).bitPattern
            bytes[offset] = UInt8(bits & 0xFF)
            bytes[offset + 1] = UInt8(bits >> 8)
        }
        for block in stride(from: 0, to: rows * rowBytes, by: format.blockBytes) {
            let scale = 0.002 + 0.01 * generator.uniformFloats(1)[0], minimum = 0.05 * (generator.uniformFloats(1)[0] - 0.5)
            switch format {
            case .q6K: half(scale, at: block + 208)
            case .q4_1, .q4K: half(scale, at: block); half(minimum, at: block + 2)
            default: half(scale, at: block)
            }
        }
        return try QuantizedMatrix(format: format, rows: rows, columns: columns, bytes: UnsafeRawPointer(blocks.bytes), owner: blocks)
    }

    /// x with each block of 32 rounded as the integer path rounds it: codes round(x · 127 / max|x|)
    /// times max|x| / 127.
    static func roundedActivations(_ x: [Float]) -> [Float] {
        var rounded = x
        for start in stride(from: 0, to: x.count, by: 32) {
            let block = x[start..<(start + 32)]
            let largest = block.map(abs).max()!
            let inverse: Float = largest > 0 ? 127 / largest : 0
            for index in start..<(start + 32) { rounded[index] = (x[index] * inverse).rounded(.toNearestOrEven) * (largest / 127) }
        }
        return rounded
    }

    @Test(arguments: formats)
    func integerProductsAreExactOnRoundedActivations(_ format: QuantizationFormat) throws {
        try withKernelSelectionLock { try integerProductsAreExact(format) }
    }

    func integerProductsAreExact(_ format: QuantizationFormat) throws {
        guard cortex_quant_has_integer_path(format.rawValue, 512) != 0 else {
            print("skipping the integer path of \(format): this CPU has no AVX512-VNNI")
            return
        }
        let matrix = try QuantizedIntegerTests.randomMatrix(format, rows: 11, columns: 512, seed: UInt64(format.rawValue))
        let dense = try matrix.dequantized()
        for vectors in [1, 2, 3, 5, 7] {
            let x = try Tensor.randn([vectors, 512], generator: RandomGenerator(seed: UInt64(vectors)))
            let rounded = try Tensor(QuantizedIntegerTests.roundedActivations(x.toFloatArray()), shape: [vectors, 512])
            let integer = try QuantizedMatrix.$activations.withValue(.integer) { try matrix.product(x) }
            #expect(try closenessFailure(integer, rounded.matmul(dense.mT), rtol: 1e-4, atol: 1e-4) == nil, "\(format), \(vectors) vectors")
            let float = try QuantizedMatrix.$activations.withValue(.float) { try matrix.product(x) }
            let relative = try ((integer - float).square().sum().item() / float.square().sum().item()).squareRoot()
            #expect(relative < 0.02, "\(format), \(vectors) vectors: \(relative) from the float path")
            // Two codes per activation: the float product within 1e-4 (relative RMS).
            let refined = try QuantizedMatrix.$activations.withValue(.refined) { try matrix.product(x) }
            let refinedRelative = try ((refined - float).square().sum().item() / float.square().sum().item()).squareRoot()
            #expect(refinedRelative < 1e-4, "\(format), \(vectors) vectors refined: \(refinedRelative) from the float path")
        }
    }

    /// Rows repacked sixteen at a time (the kernel whose lanes are rows) give the row-major
    /// integer path's products up to float summation order (rtol 1e-5), for 1 to 19 vectors
    /// (groups of eight and what is left), integer and refined; packed Q8_0 takes the refined
    /// integer path, within 1e-4 (relative RMS) of the float path.
    @Test(arguments: [QuantizationFormat.q4_0, .q4_1, .q8_0])
    func packedRowsGiveTheRowMajorProducts(_ format: QuantizationFormat) throws {
        try withKernelSelectionLock { try packedProducts(format) }
    }

    func packedProducts(_ format: QuantizationFormat) throws {
        let matrix = try QuantizedIntegerTests.randomMatrix(format, rows: 48, columns: 320, seed: 40 + UInt64(format.rawValue))
        guard matrix.isPackable else {
            print("skipping packed rows of \(format): this CPU has no AVX512-VNNI")
            return
        }
        let packed = matrix.packedForBatches()
        #expect(packed.isPacked && !matrix.isPacked)
        // Dequantised from the packed rows, bit for bit as from the row-major blocks.
        #expect(try packed.dequantized().toFloatArray() == matrix.dequantized().toFloatArray())
        #expect(try packed.dequantizedRows(13..<37).toFloatArray() == matrix.dequantizedRows(13..<37).toFloatArray())
        #expect(try QuantizedIntegerTests.randomMatrix(format, rows: 40, columns: 320, seed: 1).packedForBatches().isPacked == false)
        for vectors in [1, 2, 3, 4, 5, 8, 9, 19] {
            let x = try Tensor.randn([vectors, 320], generator: RandomGenerator(seed: 70 + UInt64(vectors)))
            for mode in [QuantizedMatrix.Activations.integer, .refined] where !(mode == .refined && format == .q8_0) {
                let rowMajor = try QuantizedMatrix.$activations.withValue(mode) { try matrix.product(x) }
                let fromPacked = try QuantizedMatrix.$activations.withValue(mode) { try packed.product(x) }
                #expect(try closenessFailure(fromPacked, rowMajor, rtol: 1e-5, atol: 1e-5) == nil, "\(format), \(vectors) vectors, \(mode)")
            }
            let float = try QuantizedMatrix.$activations.withValue(.float) { try matrix.product(x) }
            let refined = try QuantizedMatrix.$activations.withValue(.refined) { try packed.product(x) }
            let relative = try ((refined - float).square().sum().item() / float.square().sum().item()).squareRoot()
            #expect(relative < 1e-4, "\(format), \(vectors) vectors, packed and refined: \(relative) from the float path")
            // Products sharing an input: a packed matrix beside a row-major one.
            let shared = try QuantizedMatrix.products([packed, matrix], x)
            #expect(try closenessFailure(shared[0], shared[1], rtol: 1e-5, atol: 1e-5) == nil, "\(format), \(vectors) vectors, shared")
        }
    }

    /// Several matrices against one input in one region equal their products one by one, on
    /// the integer path and off it (more rows than the kernel takes).
    @Test func productsOfMatricesSharingAnInputMatchOneByOne() throws {
        try withKernelSelectionLock { try sharedInputProducts() }
    }

    func sharedInputProducts() throws {
        let matrices = try [(QuantizationFormat.q4_1, 11), (.q8_0, 4), (.q4_0, 9)].map { format, rows in
            try QuantizedIntegerTests.randomMatrix(format, rows: rows, columns: 256, seed: UInt64(rows))
        }
        for count in [1, 3, 40] {
            let x = try Tensor.randn([1, count, 256], generator: RandomGenerator(seed: 9))
            for (fused, matrix) in zip(try QuantizedMatrix.products(matrices, x), matrices) {
                #expect(fused.shape == [1, count, matrix.rows])
                #expect(try fused.toFloatArray() == matrix.product(x).toFloatArray(), "\(matrix.format), \(count) rows")
            }
        }
    }
}
