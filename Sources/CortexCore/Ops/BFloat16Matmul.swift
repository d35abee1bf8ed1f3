import CCortexKernels

/// Products of bfloat16 matrices, as PyTorch's bf16 `matmul`: bfloat16 in, float32
/// accumulation, bfloat16 out (rounded to nearest even once, at the end).
///
/// ```swift
/// let a = try Tensor.randn([2048, 2048]).to(.bfloat16), b = try Tensor.randn([2048, 2048]).to(.bfloat16)
/// let c = try a.matmul(b)     // bfloat16, computed with vdpbf16ps where the CPU has AVX512_BF16
/// ```
///
/// Two-dimensional products (and a stack of left matrices against one right matrix) run on the
/// AVX512_BF16 kernel, split by rows among the workers; other shapes, and CPUs without the
/// instructions, compute in float32 from the same bfloat16 values.
extension Tensor {
    func bfloat16Matmul(_ other: Tensor) throws -> Tensor {
        try requireSameDevice(other, "matmul")
        guard device == .cpu, cortex_has_avx512_bf16() != 0, rank >= 2, other.rank == 2, shape[rank - 1] == other.shape[0] else {
            return try to(.float32).matmul(other.to(.float32)).to(.bfloat16)
        }
        let (rows, depth, columns) = (count / Swift.max(shape[rank - 1], 1), shape[rank - 1], other.shape[1])
        let left = try (rank == 2 ? self : contiguous().reshape([rows, depth]))
        let result = try Tensor.empty([rows, columns])
        if rows > 0 && columns > 0 {
            let (aStrides, bStrides) = (left.layout.strides, other.layout.strides)
            let pointers = UncheckedSendable((
                left.storage.pointer.assumingMemoryBound(to: UInt16.self) + left.layout.offset,
                other.storage.pointer.assumingMemoryBound(to: UInt16.self) + other.layout.offset,
                result.storage.pointer.assumingMemoryBound(to: Float.self)))
            // Row blocks of 12 (the kernel's tile) shared among the workers.
            let blocks = (rows + 11) / 12
            CPUParallelism.forEachRange(blocks, grain: Swift.max(1, (1 << 20) / Swift.max(12 * depth * columns, 1))) { part in
                let (a, b, c) = pointers.value
                let first = part.lowerBound * 12, end = Swift.min(part.upperBound * 12, rows)
                cortex_bf16_gemm(end - first, columns, depth, a + first * aStrides[0], aStrides[0], aStrides[1], b, bStrides[0], bStrides[1],
                                 c + first * columns, columns)
            }
            withExtendedLifetime((left, other)) {}
        }
        let output = try result.to(.bfloat16).reshape(Array(shape.dropLast()) + [columns])
        let (saved, right) = (detach(), other.detach())
        return output.recorded("matmul", [self, other]) { gradient, needed in
            [needed[0] ? try gradient.matmul(right.mT) : nil,
             needed[1] ? try saved.reshape([-1, depth]).mT.matmul(gradient.reshape([-1, columns])) : nil]
        }
    }
}
