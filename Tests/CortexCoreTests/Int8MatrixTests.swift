import CCortexKernels
import CortexCore
import CortexTestSupport
import Foundation
import Testing

/// Int8 products: integer sums exactly equal to a plain reference, on the VNNI kernel and on the
/// portable one; weights, activation parameters and outputs as PyTorch's quantised Linear gives
/// them (fixtures from Tools/make_int8_fixtures.py: per_channel_symmetric qint8 weights,
/// choose_qparams, quantized::linear_dynamic with reduce_range off).
@Suite struct Int8MatrixTests {
    struct Fixture: Decodable {
        struct Range: Decodable { let range: [Float]; let parameters: [Double] }
        let rows: Int, columns: Int, count: Int
        let weight: [Float], bias: [Float], input: [Float]
        let codes: [Int], scales: [Float]
        let choose_qparams: [Range]
        let tensor_parameters: [Double]
        let per_tensor_output: [Float], per_row_output: [Float]
    }

    static let fixture: Fixture = {
        let path = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path + "/int8_linear.json"
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }()

    /// Σ a·w in Int64, the reference the kernels must equal.
    static func referenceSums(_ a: [UInt8], _ matrix: Int8Matrix, count: Int) -> [Int32] {
        var sums = [Int32](repeating: 0, count: count * matrix.rows)
        for i in 0..<count {
            for j in 0..<matrix.rows {
                var sum: Int64 = 0
                for k in 0..<matrix.columns { sum += Int64(a[i * matrix.columns + k]) * Int64(matrix.codes[j * matrix.columns + k]) }
                sums[i * matrix.rows + j] = Int32(sum)
            }
        }
        return sums
    }

    /// Shapes with every edge: rows not whole panels or tiles, columns not whole groups of 4,
    /// one input row, and enough rows and channels to split among workers.
    @Test(arguments: [(1, 1, 1), (7, 37, 45), (5, 16, 4), (64, 130, 200), (129, 67, 3), (3, 1000, 384)])
    func integerSumsAreExact(_ shape: (Int, Int, Int)) throws {
        let (count, rows, columns) = shape
        let weight = try Tensor.randn([rows, columns], generator: RandomGenerator(seed: UInt64(count * 1_000_003 + rows * 101 + columns)))
        let matrix = try Int8Matrix(quantizing: weight)
        #expect(matrix.codes.contains(-128) || matrix.codes.contains(127))
        // Extreme codes included: 255 against -128 is the largest product.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let a = (0..<count * columns).map { index -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return index % 11 == 0 ? 255 : UInt8(truncatingIfNeeded: state >> 56)
        }
        let want = Self.referenceSums(a, matrix, count: count)
        #expect(try matrix.integerProduct(a, count: count) == want)
        cortex_allow_avx512(0)
        defer { cortex_allow_avx512(1) }
        #expect(try matrix.integerProduct(a, count: count) == want, "the portable kernel")
    }

    @Test func weightsQuantiseAsPyTorch() throws {
        let fixture = Self.fixture
        let matrix = try Int8Matrix(quantizing: Tensor(fixture.weight, shape: [fixture.rows, fixture.columns]))
        #expect(matrix.codes.map(Int.init) == fixture.codes)
        #expect(matrix.scales == fixture.scales)
    }

    @Test func activationParametersAreChosenAsPyTorch() throws {
        for entry in Self.fixture.choose_qparams {
            let chosen = Int8Activations.calibrated(low: entry.range[0], high: entry.range[1])
            #expect(chosen == .calibrated(scale: Float(entry.parameters[0]), zeroPoint: Int32(entry.parameters[1])), "range \(entry.range)")
        }
    }

    /// Outputs equal PyTorch's to float rounding: the integer sums are identical, and the
    /// scaling differs only in the order of three float multiplications (fbgemm folds the two
    /// scales first, as Cortex does), so 2 ulps of the largest output bound the difference.
    @Test(arguments: [false, true])
    func productsMatchPyTorchQuantizedLinear(perTensor: Bool) throws {
        let fixture = Self.fixture
        let matrix = try Int8Matrix(quantizing: Tensor(fixture.weight, shape: [fixture.rows, fixture.columns]))
        let x = try Tensor(fixture.input, shape: [fixture.count, fixture.columns])
        let activations: Int8Activations = perTensor
            ? .calibrated(scale: Float(fixture.tensor_parameters[0]), zeroPoint: Int32(fixture.tensor_parameters[1])) : .dynamic
        let got = try matrix.product(x, bias: Tensor(fixture.bias, shape: [fixture.rows]), activations: activations).toFloatArray()
        let want = perTensor ? fixture.per_tensor_output : fixture.per_row_output
        let tolerance = 2 * (want.map(abs).max() ?? 1).ulp
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= tolerance, "largest difference \(worst), tolerance \(tolerance)")
    }

    /// Close to the float product: per-row 8-bit activations and per-channel weights keep the
    /// relative error near 1%.
    @Test func productsAreCloseToFloat() throws {
        let (count, rows, columns) = (33, 70, 300)
        let weight = try Tensor.randn([rows, columns], generator: RandomGenerator(seed: 11))
        let x = try Tensor.randn([count, columns], generator: RandomGenerator(seed: 12)) + 0.5
        let bias = try Tensor((0..<rows).map { Float($0) / 10 }, shape: [rows])
        let exact = try (x.matmul(weight.mT) + bias).toFloatArray()
        let got = try Int8Matrix(quantizing: weight).product(x, bias: bias).toFloatArray()
        let error = sqrt(zip(got, exact).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / exact.map { $0 * $0 }.reduce(0, +))
        #expect(error < 0.01, "relative error \(error)")
    }

    @Test func badInputIsATypedError() throws {
        let matrix = try Int8Matrix(quantizing: Tensor.ones([4, 8]))
        #expect(throws: CortexError.self) { try matrix.product(Tensor.ones([2, 7])) }
        #expect(throws: CortexError.self) { try matrix.product(Tensor.ones([2, 8]), bias: Tensor.ones([3])) }
        #expect(throws: CortexError.self) { try matrix.product(Tensor.ones([2, 8]), activations: .calibrated(scale: 0, zeroPoint: 0)) }
        #expect(throws: CortexError.self) { try matrix.product(Tensor.ones([2, 8]), activations: .calibrated(scale: 1, zeroPoint: 300)) }
        #expect(throws: CortexError.self) { try Int8Matrix(codes: [1, 2, 3], scales: [1], rows: 1, columns: 2) }
        #expect(throws: CortexError.self) { try Int8Matrix(codes: [1, 2], scales: [.nan], rows: 1, columns: 2) }
    }
}
