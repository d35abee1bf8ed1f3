import ArgumentParser
import CBLAS
import CCortexKernels
import CortexCore
import Foundation

/// The core suite: matmul against raw sgemm, memory-bound element-wise ops and reductions
/// against a plain copy, and the fixed cost of one small op with autograd recording.
struct CoreSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "core", abstract: "Tensor core: matmul, element-wise, reductions, op overhead.")

    @OptionGroup var options: BenchmarkOptions

    func run() throws {
        let reference = PyTorchReference.run(suite: "core", repetitions: options.repetitions)
        var rows: [BenchmarkRow] = []
        let generator = RandomGenerator(seed: 0)

        for n in [256, 1024, 2048] where options.includes("matmul_\(n)") {
            let a = try Tensor.randn([n, n], generator: generator), b = try Tensor.randn([n, n], generator: generator)
            let flops = 2 * Double(n) * Double(n) * Double(n)
            let repetitions = n >= 2048 ? max(options.repetitions / 3, 5) : options.repetitions
            let cortex = try medianSeconds(repetitions: repetitions) { _ = try a.matmul(b) }
            let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            defer { c.deallocate() }
            let aPointer = a.storage.pointer.assumingMemoryBound(to: Float.self)
            let bPointer = b.storage.pointer.assumingMemoryBound(to: Float.self)
            let blas = medianSeconds(repetitions: repetitions) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                            aPointer, Int32(n), bPointer, Int32(n), 0, c, Int32(n))
            }
            let name = "matmul_\(n)"
            rows.append(BenchmarkRow(name: name, cortex: flops / cortex / 1e9, reference: reference.figures[name],
                                     unit: "GFLOP/s", blas: flops / blas / 1e9))
        }

        // bfloat16 operands, float32 accumulation, bfloat16 result (PyTorch's bf16 matmul).
        if options.includes("matmul_bf16_2048") {
            let n = 2048
            let a = try Tensor.randn([n, n], generator: generator).to(.bfloat16), b = try Tensor.randn([n, n], generator: generator).to(.bfloat16)
            let seconds = try medianSeconds(repetitions: max(options.repetitions / 3, 5)) { _ = try a.matmul(b) }
            rows.append(BenchmarkRow(name: "matmul_bf16_2048", cortex: 2 * Double(n * n * n) / seconds / 1e9,
                                     reference: reference.figures["matmul_bf16_2048"], unit: "GFLOP/s"))
        }

        // The MNIST MLP's first layer at batch 64: forward x @ W^T and the weight gradient dY^T @ x.
        let input = try Tensor.randn([64, 784], generator: generator), weight = try Tensor.randn([128, 784], generator: generator)
        let upstream = try Tensor.randn([64, 128], generator: generator)
        let linearFlops = 2.0 * 64 * 784 * 128
        for (name, product) in [("linear_64x784x128", { try input.matmul(weight.mT) }), ("linear_weight_grad", { try upstream.mT.matmul(input) })]
            where options.includes(name) {
            let seconds = try medianSeconds(repetitions: options.repetitions * 20) { _ = try product() }
            rows.append(BenchmarkRow(name: name, cortex: linearFlops / seconds / 1e9, reference: reference.figures[name], unit: "GFLOP/s"))
        }

        let count = 1 << 24
        let x = try Tensor.randn([count], generator: generator), y = try Tensor.randn([count], generator: generator)
        let rowsOf4096 = try x.reshape([count / 4096, 4096])
        let megabytes = Double(count * 4) / 1e9
        let copyTarget = try Tensor.zeros([count])
        let source = UncheckedPointer(x.storage.pointer.assumingMemoryBound(to: Float.self))
        let target = UncheckedPointer(copyTarget.storage.pointer.assumingMemoryBound(to: Float.self))
        // The yardstick: a plain vectorised load/store loop into a preallocated output, as
        // PyTorch's `y.copy_(x)`. memcpy (rep movsb here) is shown beside it for reference.
        let plainCopy = {
            CPUParallelism.forEachRange(count, grain: 1 << 15) { range in
                cortex_copy(source.pointer + range.lowerBound, target.pointer + range.lowerBound, range.count)
            }
        }
        // Each op's repetitions alternate with the copy's, and "of copy" is the median of the
        // paired ratios: the machine's memory bandwidth drifts over a run (a shared host), and a
        // copy measured seconds earlier is no yardstick for it.
        func bandwidth(_ name: String, streams: Double, _ body: () throws -> Void) throws {
            guard options.includes(name) || name == "copy_16M" else { return }
            try body()
            plainCopy()
            var opSeconds: [Double] = [], ratios: [Double] = []
            for _ in 0..<max(options.repetitions, 1) {
                let copySeconds = elapsedSeconds(plainCopy)
                let seconds = try elapsedSeconds(body)
                opSeconds.append(seconds)
                ratios.append((streams * megabytes / seconds) / (2 * megabytes / copySeconds))
            }
            let gigabytesPerSecond = streams * megabytes / opSeconds.sorted()[opSeconds.count / 2]
            rows.append(BenchmarkRow(name: name, cortex: gigabytesPerSecond, reference: reference.figures[name],
                                     unit: "GB/s", ofCopy: ratios.sorted()[ratios.count / 2]))
        }
        try bandwidth("copy_16M", streams: 2, plainCopy)
        try bandwidth("memcpy_16M", streams: 2) {
            CPUParallelism.forEachRange(count, grain: 1 << 15) { range in
                (target.pointer + range.lowerBound).update(from: source.pointer + range.lowerBound, count: range.count)
            }
        }
        try bandwidth("add_16M", streams: 3) { _ = try x + y }
        try bandwidth("mul_16M", streams: 3) { _ = try x * y }
        try bandwidth("exp_16M", streams: 2) { _ = try x.exp() }
        try bandwidth("gelu_16M", streams: 2) { _ = try x.gelu() }
        try bandwidth("softmax_4096x4096", streams: 2) { _ = try rowsOf4096.softmax(axis: -1) }
        try bandwidth("sum_16M", streams: 1) { _ = try x.sum() }

        if options.includes("add_16_grad_overhead") {
            let small = try Tensor.randn([16], generator: generator).requiringGrad()
            let other = try Tensor.randn([16], generator: generator).requiringGrad()
            let iterations = 20_000
            let seconds = try medianSeconds(repetitions: options.repetitions) {
                for _ in 0..<iterations { _ = try small + other }
            }
            rows.append(BenchmarkRow(name: "add_16_grad_overhead", cortex: seconds / Double(iterations) * 1e6,
                                     reference: reference.figures["add_16_grad_overhead"], unit: "us", higherIsBetter: false))
        }

        BenchmarkReport.print(rows, json: options.json, notes: [
            reference.note,
            "Bandwidth counts bytes read plus bytes written once each (copy and unary 2 streams, binary 3, reductions 1); \(CPUParallelism.threadCount) threads.",
            "\"of copy\": the median over \(options.repetitions) runs of the op's bandwidth over the plain copy kernel's (copy_16M) measured just before it.",
        ])
    }
}

/// A pointer handed to benchmark worker threads that touch disjoint ranges.
struct UncheckedPointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}
