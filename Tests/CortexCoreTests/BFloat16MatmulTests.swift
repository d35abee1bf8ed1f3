import CCortexKernels
import Testing
@testable import CortexCore
import CortexTestSupport

/// bfloat16 products (float32 accumulation, one rounding to bfloat16 at the end) against the
/// float32 product of the same bfloat16 values, rounded once: within one bfloat16 step
/// (rtol 8e-3), on shapes that leave partial tiles, an odd depth, transposed and strided
/// operands, and a stack of left matrices; gradients flow through the casts to float32
/// leaves.
@Suite struct BFloat16MatmulTests {
    static func reference(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try a.to(.float32).matmul(b.to(.float32)).to(.bfloat16).to(.float32)
    }

    @Test(arguments: [(1, 1, 1), (5, 7, 3), (13, 33, 31), (40, 70, 257), (300, 96, 512)])
    func productsMatchFloat32OfTheSameValues(_ shape: (Int, Int, Int)) throws {
        let (m, n, k) = shape
        if cortex_has_avx512_bf16() == 0 { print("bfloat16 products on this CPU go through float32 (no AVX512_BF16)") }
        let generator = RandomGenerator(seed: UInt64(m * n + k))
        let a = try Tensor.randn([m, k], generator: generator).to(.bfloat16), b = try Tensor.randn([k, n], generator: generator).to(.bfloat16)
        let product = try a.matmul(b)
        #expect(product.dtype == .bfloat16 && product.shape == [m, n])
        #expect(try closenessFailure(product.to(.float32), BFloat16MatmulTests.reference(a, b), rtol: 8e-3, atol: 1e-2) == nil, "\(shape)")
        // A transposed right operand (a Linear weight's view) and a transposed left one.
        let weight = try Tensor.randn([n, k], generator: generator).to(.bfloat16)
        #expect(try closenessFailure(a.matmul(weight.mT).to(.float32), BFloat16MatmulTests.reference(a, weight.mT), rtol: 8e-3, atol: 1e-2) == nil)
        let tall = try Tensor.randn([k, m], generator: generator).to(.bfloat16)
        #expect(try closenessFailure(tall.mT.matmul(b).to(.float32), BFloat16MatmulTests.reference(tall.mT, b), rtol: 8e-3, atol: 1e-2) == nil)
    }

    @Test func stacksAndGradients() throws {
        let generator = RandomGenerator(seed: 3)
        let x = try Tensor.randn([2, 9, 24], generator: generator).to(.bfloat16), w = try Tensor.randn([24, 10], generator: generator).to(.bfloat16)
        #expect(try closenessFailure(x.matmul(w).to(.float32), BFloat16MatmulTests.reference(x, w), rtol: 8e-3, atol: 1e-2) == nil)
        // float32 leaves cast to bfloat16 (as autocast keeps float32 master weights).
        let left = try x.to(.float32).requiringGrad(), right = try w.to(.float32).requiringGrad()
        try left.to(.bfloat16).matmul(right.to(.bfloat16)).to(.float32).sum().backward()
        let (gradientLeft, gradientRight) = (try #require(left.grad), try #require(right.grad))
        #expect(gradientLeft.shape == [2, 9, 24] && gradientRight.shape == [24, 10])
        // d(sum(x w))/dw = column sums of x, each row of w's gradient the same.
        let expected = try x.to(.float32).reshape([-1, 24]).sum(axes: [0]).toFloatArray()
        let rows = try gradientRight.to(.float32).toFloatArray()
        for row in 0..<24 { #expect(abs(rows[row * 10] - expected[row]) <= 0.05 * max(1, abs(expected[row])), "row \(row)") }
    }
}
