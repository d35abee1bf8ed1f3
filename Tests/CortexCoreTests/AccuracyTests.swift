import Foundation
import Testing
@testable import CortexCore
import CortexTestSupport
import CCortexKernels

/// The vectorised math functions against Double-precision references over a dense range,
/// at the parity tolerance (rtol 1e-5, atol 1e-6).
@Suite struct AccuracyTests {
    static let inputs: [Float] = (0...40_000).map { -20 + 40 * Float($0) / 40_000 }

    static let functions: [(String, @Sendable (Tensor) throws -> Tensor, @Sendable (Double) -> Double)] = [
        ("exp", { try $0.clamp(max: 80).exp() }, { Foundation.exp(Swift.min($0, 80)) }),
        ("log", { try $0.abs().log() }, { Foundation.log(Swift.abs($0)) }),
        ("tanh", { try $0.tanh() }, { Foundation.tanh($0) }),
        ("sigmoid", { try $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) }),
        ("gelu", { try $0.gelu() }, { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }),
        ("gelu_tanh", { try $0.gelu(approximate: .tanh) }, { x in
            0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }),
        ("silu", { try $0.silu() }, { $0 / (1 + Foundation.exp(-$0)) }),
        ("softplus", { try $0.softplus() }, { $0 > 20 ? $0 : Foundation.log1p(Foundation.exp($0)) }),
        ("pow_2.5", { try $0.abs().pow(2.5) }, { Foundation.pow(Swift.abs($0), 2.5) }),
    ]

    @Test(arguments: 0..<functions.count)
    func matchesDoublePrecision(_ index: Int) throws {
        let (name, function, reference) = AccuracyTests.functions[index]
        let x = try Tensor(AccuracyTests.inputs)
        let expected = try Tensor(AccuracyTests.inputs.map { Float(reference(Double($0))) })
        let failure = try closenessFailure(function(x), expected, rtol: 1e-5, atol: 1e-6)
        #expect(failure == nil, "\(name): \(failure ?? "")")
    }

    @Test func specialValues() throws {
        let x = try Tensor([.nan, .infinity, -.infinity, 0, -0.0, 100, -100])
        let exp = try x.exp().toFloatArray()
        #expect(exp[0].isNaN && exp[1] == .infinity && exp[2] == 0 && exp[3] == 1 && exp[5] == .infinity)
        // exp(-100) is 3.72e-44, a float32 subnormal (PyTorch gives the same); 0 is close enough too.
        #expect(exp[6] >= 0 && exp[6] < 1e-40)
        let log = try Tensor([0, -1, .infinity, .nan]).log().toFloatArray()
        #expect(log[0] == -.infinity && log[1].isNaN && log[2] == .infinity && log[3].isNaN)
        let tanh = try x.tanh().toFloatArray()
        #expect(tanh[0].isNaN && tanh[1] == 1 && tanh[2] == -1 && tanh[5] == 1 && tanh[6] == -1)
        let relu = try x.relu().toFloatArray()
        #expect(relu[0].isNaN && relu[1] == .infinity && relu[2] == 0)
        // As PyTorch: gelu(nan) = nan, gelu(-inf) = nan (-inf * 0), gelu(-100) = -0; at +inf PyTorch 2.15
        // gives nan where Cortex keeps the limit, inf.
        let gelu = try x.gelu().toFloatArray()
        #expect(gelu[0].isNaN && gelu[1] == .infinity && gelu[2].isNaN && gelu[3] == 0 && gelu[5] == 100 && gelu[6] == 0)
        #expect(try x.max().item().isNaN)
        #expect(try Tensor([1, .nan, 3]).maximum(Tensor([2, 2, .nan])).toFloatArray().map(\.isNaN) == [false, true, true])
    }

    /// The hand-written AVX-512 rows and the portable kernels agree (where the CPU has AVX-512;
    /// elsewhere both runs take the portable path).
    @Test func avx512AndPortableKernelsAgree() throws {
        let x = try Tensor.randn([37, 301], standardDeviation: 8, generator: RandomGenerator(seed: 12))
        func outputs() throws -> [Tensor] {
            [try x.exp(), try x.softmax(axis: -1), try x.logSoftmax(axis: -1), try x.sum(), try x.gelu()]
        }
        let fast = try outputs()
        let portable = try withKernelSelectionLock {
            cortex_allow_avx512(0)
            defer { cortex_allow_avx512(1) }
            return try outputs()
        }
        for (a, b) in zip(fast, portable) {
            // Inputs reach |x| ~ 30, where one float32 ulp is 1.9e-6: log-softmax's x - shift
            // carries that absolute rounding whichever path computes the shift.
            let failure = try closenessFailure(a, b, rtol: 1e-5, atol: 4e-6)  // the sum (~300) differs only by summation order
            #expect(failure == nil, "\(failure ?? "")")
        }
    }

    /// Softmax and log-softmax rows with infinities and NaNs give PyTorch's values (rows of 40,
    /// long enough for the vectorised main loop).
    @Test func softmaxOfInfiniteAndNaNRows() throws {
        func row(_ first: [Float], filler: Float) -> [Float] { first + Array(repeating: filler, count: 40 - first.count) }
        let rows = try Tensor(row([1, 2], filler: -.infinity) + row([], filler: -.infinity) + row([.infinity, 1], filler: 0)
                              + row([.nan, 1], filler: 0), shape: [4, 40])
        let softmax = try rows.softmax(axis: -1).toFloatArray(), logSoftmax = try rows.logSoftmax(axis: -1).toFloatArray()
        #expect(Swift.abs(softmax[0] - 0.268941) < 1e-6 && Swift.abs(softmax[1] - 0.731059) < 1e-6 && softmax[2] == 0)
        #expect(Swift.abs(logSoftmax[0] + 1.313262) < 1e-5 && logSoftmax[2] == -.infinity)
        for index in 40..<160 { #expect(softmax[index].isNaN && logSoftmax[index].isNaN, "element \(index)") }
    }
}
