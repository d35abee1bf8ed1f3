import Foundation
import Testing
@testable import CortexCore
import CortexTestSupport

/// Greedy choices through a refined output projection that multiplies a second time only
/// where the largest sum could be: the same choice as the full refined product, ties to the
/// first index; exact rows bit for bit the full product.
@Suite struct RefinedChoicesTests {
    /// 400 rows (25 groups of 16) of 320 values.
    static func matrix(_ format: QuantizationFormat, seed: UInt64, copying: (from: Int, to: Int)? = nil) throws -> QuantizedMatrix? {
        let matrix = try QuantizedIntegerTests.randomMatrix(format, rows: 400, columns: 320, seed: seed)
        guard matrix.isPackable else { return nil }
        if let copying {
            let bytes = UnsafeMutableRawPointer(mutating: matrix.bytes)
            bytes.advanced(by: copying.to * matrix.rowBytes).copyMemory(from: bytes.advanced(by: copying.from * matrix.rowBytes), byteCount: matrix.rowBytes)
        }
        return matrix.packedForBatches()
    }

    @Test(arguments: [QuantizationFormat.q8_0, .q4_1, .q4_0])
    func choicesAreTheFullProductsChoices(_ format: QuantizationFormat) throws {
        guard let packed = try Self.matrix(format, seed: 90 + UInt64(format.rawValue)) else {
            print("skipping refined choices of \(format): this CPU has no AVX512-VNNI")
            return
        }
        for count in [1, 2, 3, 8, 11] {
            // Rows of every scale, one with an outlier value (a large block scale).
            var x = try Tensor.randn([count, 320], generator: RandomGenerator(seed: 7 + UInt64(count)))
            x = try x * Tensor((0..<count).map { Float(1 + $0 % 4) }, shape: [count, 1])
            try x.slice(axis: 0, start: 0, end: 1).slice(axis: 1, start: 5, end: 6).copy(from: Tensor([40], shape: [1, 1]))
            let exact = (0..<count).map { $0 % 3 == 1 }
            try QuantizedMatrix.$activations.withValue(.refined) {
                let full = try packed.product(x).contiguous()
                let (products, choices) = try packed.refinedChoices(x, exact: exact)
                #expect(choices == full.firstLargestIndices(), "\(format), \(count) rows")
                for row in 0..<count where exact[row] {
                    #expect(try products.select(axis: 0, index: row).toFloatArray() == full.select(axis: 0, index: row).toFloatArray(), "\(format), row \(row)")
                }
            }
        }
    }

    /// A row copied to a lower index in another group ties with the largest: the choice is the
    /// lower one, as the full product's first largest is.
    @Test func tiesGoToTheFirstIndex() throws {
        guard let plain = try Self.matrix(.q8_0, seed: 5) else {
            print("skipping refined choices: this CPU has no AVX512-VNNI")
            return
        }
        let x = try Tensor.randn([4, 320], generator: RandomGenerator(seed: 11))
        try QuantizedMatrix.$activations.withValue(.refined) {
            let largest = try plain.product(x).contiguous().firstLargestIndices()[0]
            let lower = largest >= 40 ? largest - 37 : largest + 37
            let tied = try #require(try Self.matrix(.q8_0, seed: 5, copying: (largest, lower)))
            let full = try tied.product(x).contiguous()
            let (_, choices) = try tied.refinedChoices(x, exact: [false, false, false, false])
            #expect(choices == full.firstLargestIndices())
            #expect(choices[0] == min(largest, lower))
        }
    }

    /// Off the refined packed path (a row-major matrix, the integer treatment) every row is
    /// the product itself.
    @Test func offThePathEveryRowIsTheProduct() throws {
        let matrix = try QuantizedIntegerTests.randomMatrix(.q8_0, rows: 48, columns: 320, seed: 3)
        let x = try Tensor.randn([5, 320], generator: RandomGenerator(seed: 4))
        for mode in [QuantizedMatrix.Activations.refined, .integer, .float] {
            try QuantizedMatrix.$activations.withValue(mode) {
                let full = try matrix.product(x).contiguous()
                let (products, choices) = try matrix.refinedChoices(x, exact: [false, false, false, false, false])
                #expect(try products.toFloatArray() == full.toFloatArray(), "\(mode)")
                #expect(choices == full.firstLargestIndices())
            }
        }
    }
}
