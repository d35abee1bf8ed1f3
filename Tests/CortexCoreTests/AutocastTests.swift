import CCortexKernels
import Foundation
import Testing
@testable import CortexCore
import CortexTestSupport

/// Autocast's bfloat16 products: each must equal the float32 product of the operands rounded to
/// bfloat16 (only the order of the float32 sums differs: rtol 1e-4, atol 1e-4) on every layout
/// the products meet (transposed, sliced, batched, broadcast, folded, split over k, decoding
/// rows), on the AVX512_BF16 kernel and on the emulation other CPUs take; gradients are the
/// same rounded products; the precision ends with its scope.
@Suite struct AutocastTests {
    /// The float32 product of the operands rounded to bfloat16.
    static func reference(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try a.roundedToBFloat16().matmul(b.roundedToBFloat16())
    }

    /// Pairs of operands covering the packed GEMM's paths.
    static func operandPairs() throws -> [(Tensor, Tensor)] {
        let generator = RandomGenerator(seed: 31)
        let a = try Tensor.randn([3, 40, 70], generator: generator), b = try Tensor.randn([70, 50], generator: generator)
        let c = try Tensor.randn([3, 50, 70], generator: generator), wide = try Tensor.randn([40, 140], generator: generator)
        let big = try Tensor.randn([300, 200], generator: generator), other = try Tensor.randn([200, 260], generator: generator)
        let weight = try Tensor.randn([70, 201], generator: generator)
        let long = try Tensor.randn([36, 531], generator: generator), longWeight = try Tensor.randn([64, 531], generator: generator)
        let deep = try Tensor.randn([32, 3001], generator: generator), narrow = try Tensor.randn([9, 3001], generator: generator)
        let row = try Tensor.randn([1, 70], generator: generator), rows = try Tensor.randn([3, 71], generator: generator)
        let wideB = try Tensor.randn([70, 300], generator: generator), tallB = try Tensor.randn([71, 33], generator: generator)
        // Shared B panels over three k blocks, the last one odd.
        let tallDeep = try Tensor.randn([300, 1031], generator: generator), deepB = try Tensor.randn([1031, 64], generator: generator)
        return try [(a, b), (a, c.transpose(1, 2)), (a.mT, a), (wide.slice(axis: 1, step: 2), b), (big, other), (big.mT, big),
                (big, weight.mT.slice(axis: 0, start: 0, end: 200)), (long, longWeight.mT), (longWeight, long.mT),
                (deep, narrow.mT), (narrow, deep.mT), (row, wideB), (rows, tallB), (rows.mT.slice(axis: 0, start: 0, end: 70).mT, wideB),
                (a.select(axis: 0, index: 1).unsqueeze(0), c.transpose(1, 2)), (tallDeep, deepB), (tallDeep, deepB.mT.contiguous().mT)]
    }

    @Test func productsEqualFloat32ProductsOfRoundedOperands() throws {
        if cortex_has_avx512_bf16() == 0 { print("autocast products on this CPU are emulated (no AVX512_BF16)") }
        let pairs = try AutocastTests.operandPairs()
        let kernel = try Autocast.run(.bfloat16) { try pairs.map { try $0.0.matmul($0.1) } }
        let emulated = try withKernelSelectionLock {
            cortex_allow_avx512(0)
            defer { cortex_allow_avx512(1) }
            return try Autocast.run(.bfloat16) { try pairs.map { try $0.0.matmul($0.1) } }
        }
        for (index, (a, b)) in pairs.enumerated() {
            let expected = try AutocastTests.reference(a, b)
            #expect(kernel[index].dtype == .float32 && kernel[index].shape == expected.shape)
            let failure = try closenessFailure(kernel[index], expected, rtol: 1e-4, atol: 1e-4)
            #expect(failure == nil, "product \(index): \(failure ?? "")")
            let emulation = try closenessFailure(emulated[index], expected, rtol: 1e-4, atol: 1e-4)
            #expect(emulation == nil, "emulated product \(index): \(emulation ?? "")")
        }
        // The rounding is real: products of unrounded operands differ by about bfloat16's step.
        let (a, b) = pairs[4]
        let difference = try (Autocast.run(.bfloat16) { try a.matmul(b) } - a.matmul(b)).abs().max().item()
        #expect(difference > 1e-3 && difference < 0.5, "largest difference from float32: \(difference)")
    }

    @Test func gradientsAreRoundedProductsToo() throws {
        let generator = RandomGenerator(seed: 5)
        let x = try Tensor.randn([2, 37, 45], generator: generator).requiringGrad()
        let w = try Tensor.randn([29, 45], generator: generator).requiringGrad()
        let upstream = try Tensor.randn([2, 37, 29], generator: generator)
        let y = try Autocast.run(.bfloat16) { try x.matmul(w.mT) }
        #expect(Autocast.precision == .float32)
        try (y * upstream).sum().backward()   // backward outside the scope keeps the forward's precision
        let (gradientX, gradientW) = (try #require(x.grad), try #require(w.grad))
        let expectedX = try AutocastTests.reference(upstream, w.detach())
        let expectedW = try AutocastTests.reference(upstream.reshape([-1, 29]).mT, x.detach().reshape([-1, 45]))
        #expect(try closenessFailure(gradientX, expectedX, rtol: 1e-4, atol: 1e-4) == nil)
        #expect(try closenessFailure(gradientW, expectedW, rtol: 1e-4, atol: 1e-4) == nil)
    }

    /// A two-layer network trained with SGD in bfloat16 products follows the float32 run
    /// closely (float32 weights take every update).
    @Test func trainingFollowsFloat32() throws {
        func train(_ precision: Autocast.Precision) throws -> [Float] {
            let generator = RandomGenerator(seed: 9)
            let inputs = try Tensor.randn([64, 20], generator: generator), targets = try Tensor.randn([64, 1], generator: generator)
            let first = try (Tensor.randn([20, 32], generator: generator) * 0.2).requiringGrad()
            let second = try (Tensor.randn([32, 1], generator: generator) * 0.2).requiringGrad()
            var losses: [Float] = []
            for _ in 0..<30 {
                let loss = try Autocast.run(precision) {
                    let hidden = try inputs.matmul(first).relu()
                    let error = try hidden.matmul(second) - targets
                    return try (error * error).mean()
                }
                try loss.backward()
                try withNoGrad {
                    for parameter in [first, second] {
                        try parameter.addInPlace(try #require(parameter.grad), alpha: -0.05)
                        parameter.setGrad(nil)
                    }
                }
                losses.append(try loss.item())
            }
            return losses
        }
        let (full, mixed) = (try train(.float32), try train(.bfloat16))
        #expect(mixed.last! < 0.9 * mixed.first!, "bfloat16 losses: \(mixed)")
        for (step, (a, b)) in zip(full, mixed).enumerated() { #expect(abs(a - b) <= 0.02 * max(1, abs(a)), "step \(step): \(a) against \(b)") }
    }

    /// Against torch.autocast("cpu", dtype=torch.bfloat16) (Tools/make_autocast_fixtures.py,
    /// PyTorch 2.15): PyTorch rounds each product, and each gradient product, to bfloat16, so
    /// ours match within one bfloat16 step (rtol 8e-3, atol 1e-2), and ours rounded to bfloat16
    /// equal PyTorch's in at least 98% of elements (the rest sit on a rounding boundary that the
    /// order of the float32 sums decides).
    @Test(arguments: ["linear", "attention_scores", "deep"])
    func matchesTorchAutocast(_ name: String) throws {
        let url = try #require(Bundle.module.url(forResource: "autocast", withExtension: "safetensors", subdirectory: "Fixtures"))
        let file = try Safetensors.load(url.path)
        let (left, right) = (try file.tensor(name + ".input0").requiringGrad(), try file.tensor(name + ".input1").requiringGrad())
        let output = try Autocast.run(.bfloat16) {
            switch name {
            case "linear": return try left.matmul(right.mT)
            case "attention_scores": return try left.matmul(right.transpose(-2, -1))
            default: return try left.matmul(right)
            }
        }
        let expected = try file.tensor(name + ".output")
        #expect(try closenessFailure(output, expected, rtol: 8e-3, atol: 1e-2) == nil, "\(name) forward")
        let (ours, theirs) = (try output.roundedToBFloat16().toFloatArray(), try expected.toFloatArray())
        let equal = zip(ours, theirs).filter { $0 == $1 }.count
        print("autocast \(name): \(equal) of \(theirs.count) products equal PyTorch's after rounding to bfloat16")
        #expect(Double(equal) >= 0.98 * Double(theirs.count), "\(name): \(equal) of \(theirs.count) equal after rounding")
        try (output * file.tensor(name + ".seed")).sum().backward()
        for (index, input) in [left, right].enumerated() {
            let failure = try closenessFailure(try #require(input.grad), file.tensor("\(name).grad\(index)"), rtol: 8e-3, atol: 1e-2)
            #expect(failure == nil, "\(name) gradient \(index): \(failure ?? "")")
        }
    }

    @Test func precisionsParseByTheirUsualNames() throws {
        #expect(try Autocast.Precision(parsing: "bf16") == .bfloat16 && Autocast.Precision(parsing: "BFloat16") == .bfloat16)
        #expect(try Autocast.Precision(parsing: "fp32") == .float32 && Autocast.Precision(parsing: "f32") == .float32)
        #expect(throws: CortexError.invalidArgument(operation: "precision", reason: "unknown precision 'fp8' (f32 or bf16)")) {
            try Autocast.Precision(parsing: "fp8")
        }
    }
}
