import CCortexKernels
import CortexCore
import CortexTestSupport
import Foundation
import Testing

/// The formats Cortex reads but does not write (Q5_0, Q5_1, Q2_K, Q3_K, Q5_K): dequantised
/// blocks equal gguf-py's numpy dequantisers (fixtures from Tools/make_dequantizer_fixtures.py,
/// random codes and scales) to float rounding, and products through them equal products with
/// the dequantised matrix.
@Suite struct DequantizerTests {
    struct Case: Decodable { let rows: Int, columns: Int, blocks: String, values: [Float] }

    static let fixture: [String: Case] = {
        let path = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path + "/dequantizers.json"
        return try! JSONDecoder().decode([String: Case].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }()

    /// The blocks at a stable address, owned by the matrix that views them.
    final class Bytes {
        let pointer: UnsafeMutableRawPointer
        init(hex: String) {
            var bytes = [UInt8]()
            bytes.reserveCapacity(hex.count / 2)
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                bytes.append(UInt8(hex[index..<next], radix: 16)!)
                index = next
            }
            pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
            pointer.copyMemory(from: bytes, byteCount: bytes.count)
        }
        deinit { pointer.deallocate() }
    }

    static func matrix(_ name: String) throws -> (QuantizedMatrix, Case, Bytes) {
        let entry = try #require(fixture[name])
        let format = try #require(QuantizationFormat(name: name))
        let bytes = Bytes(hex: entry.blocks)
        let matrix = try QuantizedMatrix(format: format, rows: entry.rows, columns: entry.columns, bytes: bytes.pointer, owner: bytes)
        return (matrix, entry, bytes)
    }

    @Test(arguments: ["Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q5_K"])
    func dequantizedBlocksMatchGGUFPy(_ name: String) throws {
        let (matrix, entry, bytes) = try Self.matrix(name)
        let got = try withExtendedLifetime(bytes) { try matrix.dequantized().toFloatArray() }
        #expect(got.count == entry.values.count)
        // One rounding apart at most: ggml's C may fuse a multiply and an add that numpy rounds twice.
        let largest = entry.values.map(abs).max() ?? 1
        let worst = zip(got, entry.values).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 2 * largest.ulp, "\(name): largest difference \(worst)")
    }

    @Test(arguments: ["Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q5_K"])
    func productsUseTheDequantizedWeights(_ name: String) throws {
        let (matrix, entry, bytes) = try Self.matrix(name)
        try withExtendedLifetime(bytes) {
            let dense = try matrix.dequantized()
            // Each kernel: AVX-512 (where present), AVX2 alone (2), portable (0).
            for allowed: Int32 in [1, 2, 0] {
                cortex_allow_avx512(allowed)
                defer { cortex_allow_avx512(1) }
                for count in [1, 3, 40] {
                    let x = try Tensor.randn([count, entry.columns], generator: RandomGenerator(seed: UInt64(count)))
                    let want = try x.matmul(dense.mT)
                    let failure = try closenessFailure(matrix.product(x), want, rtol: 1e-4, atol: 1e-4)
                    #expect(failure == nil, "\(name), \(count) rows, kernels \(allowed): \(failure ?? "")")
                }
            }
        }
    }
}
