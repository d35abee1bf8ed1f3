import Testing
@testable import CortexCore
import CortexTestSupport

@Suite struct TensorTests {
    @Test func viewsShareStorage() throws {
        let base = try Tensor.zeros([3, 4])
        let column = try base.slice(axis: 1, start: 1, end: 2)
        try column.fill(with: 7)
        #expect(try base.toFloatArray() == [0, 7, 0, 0, 0, 7, 0, 0, 0, 7, 0, 0])
        let transposed = try base.mT
        #expect(transposed.storage === base.storage && !transposed.isContiguous)
        #expect(try transposed.contiguous().isContiguous)
        let expanded = try Tensor([1, 2]).expand([3, 2])
        #expect(expanded.strides == [0, 1])
        #expect(try base[.index(1), .range(0, 4, step: 2)].toFloatArray() == [0, 0])
    }

    @Test func dtypeConversions() throws {
        let values: [Float] = [1.5, -2.25, 65504, 1e-3, 3.140625]
        let x = try Tensor(values)
        let half = try x.to(.float16).toFloatArray()
        #expect(half[0] == 1.5 && half[2] == 65504 && Swift.abs(half[3] - 1e-3) < 1e-6)
        let brain = try x.to(.bfloat16).toFloatArray()
        #expect(brain[0] == 1.5 && brain[1] == -2.25 && brain[4] == 3.140625)
        // bfloat16 rounds to nearest even: 1 + 2^-8 is a tie between 1 and 1 + 2^-7.
        #expect(try Tensor([1.00390625]).to(.bfloat16).toFloatArray() == [1])
        #expect(try Tensor([2.7, -2.7]).to(.int32).toIntArray() == [2, -2])
        #expect(try Tensor([0, 2]).to(.bool).toBoolArray() == [false, true])
    }

    @Test func vectorisedHalfConversionsMatchSwiftsRounding() throws {
        var values = try Tensor.randn([64, 64], standardDeviation: 300, generator: RandomGenerator(seed: 2)).toFloatArray()
        values += [0, -0, 1e-7, 6e-8, 65504, 65520, 70000, -1e9, .infinity, -.infinity, 1.00390625, 3.0e-39, .nan]
        while values.count % 64 != 0 { values.append(0.5) }
        let matrix = try Tensor(values, shape: [values.count / 64, 64])
        for dtype in [DType.float16, .bfloat16] {
            // Contiguous rows take the vectorised C path, a transposed view the generic one.
            let fast = try matrix.to(dtype).to(.float32).toFloatArray()
            let generic = try matrix.mT.to(dtype).mT.contiguous().to(.float32).toFloatArray()
            let reference = values.map { value -> Float in
                dtype == .float16 ? Float(Float16(value)) : BFloat16Bits.toFloat(BFloat16Bits.fromFloat(value))
            }
            for index in values.indices {
                #expect(fast[index].bitPattern == reference[index].bitPattern || (fast[index].isNaN && reference[index].isNaN),
                        "\(dtype) of \(values[index]): \(fast[index]) vs \(reference[index])")
                #expect(generic[index].bitPattern == reference[index].bitPattern || (generic[index].isNaN && reference[index].isNaN))
            }
        }
    }

    @Test func randomNumbersAreTheSameEverywhere() throws {
        let first = try Tensor.rand([4], generator: RandomGenerator(seed: 42)).toFloatArray()
        let second = try Tensor.rand([4], generator: RandomGenerator(seed: 42)).toFloatArray()
        #expect(first == second)
        // Fixed values: xoshiro256** seeded by SplitMix64, 24-bit uniforms, Box-Muller normals in
        // Double. These exact numbers must come out on every machine and in every release.
        #expect(RandomGenerator(seed: 42).next() == 1_546_998_764_402_558_742)
        #expect(first == [0.08386296, 0.37898022, 0.6800434, 0.9246929])
        let normal = try Tensor.randn([3], generator: RandomGenerator(seed: 42)).toFloatArray()
        #expect(normal == [-1.6132238, 1.5344874, 0.781692])
        let normals = try Tensor.randn([10_000], generator: RandomGenerator(seed: 7))
        #expect(Swift.abs(try normals.mean().item()) < 0.03)
        #expect(Swift.abs(try normals.standardDeviation().item() - 1) < 0.03)
        let coins = try Tensor.bernoulli([10_000], probability: 0.3, generator: RandomGenerator(seed: 9))
        #expect(Swift.abs(try coins.mean().item() - 0.3) < 0.02)
        let uniform = try Tensor.uniform([1000], low: -2, high: 5, generator: RandomGenerator(seed: 1))
        #expect(try uniform.min().item() >= -2 && uniform.max().item() < 5)
    }

    @Test func inPlaceUpdates() throws {
        let x = try Tensor([1, 2, 3])
        try x.addInPlace(Tensor([1, 1, 1]), alpha: 2)
        try x.multiplyInPlace(0.5)
        #expect(try x.toFloatArray() == [1.5, 2, 2.5])
        try x.copy(from: Tensor.scalar(4))
        #expect(try x.toFloatArray() == [4, 4, 4])
    }

    @Test func devices() throws {
        let x = try Tensor.ones([2])
        #expect(x.device == .cpu)
        let same = try x.to(.cpu)
        #expect(same.storage === x.storage)
    }

    @Test func largeTensorsUseBothCoresAndAgree() throws {
        // Large enough to split across workers: element-wise, reductions and softmax rows.
        let x = try Tensor.randn([300, 1000], generator: RandomGenerator(seed: 5))
        let sum = try x.sum().item()
        let bySlices = try (0..<300).reduce(Float(0)) { $0 + (try x.select(axis: 0, index: $1).sum().item()) }
        #expect(Swift.abs(sum - bySlices) < 1e-2)
        let softmax = try x.softmax(axis: -1).sum(axes: [1]).toFloatArray()
        #expect(softmax.allSatisfy { Swift.abs($0 - 1) < 1e-5 })
        let strided = try x.mT.exp().mT
        #expect(try (strided - x.exp()).abs().max().item() == 0)
    }

    /// Batch-folded columns hold the same values as the plain layout, and their gradient (read
    /// in place by col2im from the strided layout) is the same too.
    @Test func batchFoldedIm2colMatchesThePlainLayout() throws {
        let generator = RandomGenerator(seed: 5)
        let image = try Tensor.randn([3, 2, 7, 6], generator: generator).requiringGrad()
        let seed = try Tensor.randn([3, 2 * 3 * 2, 4 * 3], generator: generator)
        func columnsAndGradient(folding: Bool) throws -> (Tensor, Tensor) {
            image.setGrad(nil)
            let columns = try image.im2col(kernel: (3, 2), stride: (2, 2), padding: (1, 1), dilation: (1, 2), foldingBatch: folding)
            try (columns * seed).sum().backward()
            return (try columns.contiguous(), image.grad!)
        }
        let (plain, plainGradient) = try columnsAndGradient(folding: false)
        let (folded, foldedGradient) = try columnsAndGradient(folding: true)
        #expect(try plain.toFloatArray() == folded.toFloatArray())
        #expect(try closenessFailure(foldedGradient, plainGradient, rtol: 1e-6, atol: 1e-6) == nil)
    }
}
