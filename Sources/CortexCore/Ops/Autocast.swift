import CCortexKernels

/// Mixed precision for matrix products, as PyTorch's
/// `torch.autocast(device_type="cpu", dtype=torch.bfloat16)`: inside ``run(_:_:)`` with
/// `.bfloat16`, every float32 `matmul` (so Linear, attention and convolution) rounds its two
/// operands to bfloat16 and multiplies them with float32 accumulation. Parameters, gradients,
/// optimizer state and every other op stay float32 ("master weights"); the products' backward
/// passes run in the precision their forward pass ran in.
///
/// ```swift
/// let loss = try Autocast.run(.bfloat16) { try model.loss(inputs, targets: targets) }
/// try loss.backward()      // the gradient products are bfloat16 too
/// try optimizer.step()     // float32 weights
/// ```
///
/// Differences from PyTorch: a product's result stays float32 (PyTorch rounds it to bfloat16),
/// so the ops after it see one rounding fewer. On CPUs with AVX512_BF16 (Intel since Cooper
/// Lake, AMD Zen 4) the operands are rounded while the GEMM packs them and multiplied with
/// `vdpbf16ps`, twice the float32 rate; elsewhere they are rounded into float32 copies and take
/// the float32 GEMM, giving the same values more slowly.
public enum Autocast {
    public enum Precision: String, Sendable, CaseIterable, CustomStringConvertible {
        case float32, bfloat16

        /// Parses `f32`, `fp32`, `float32`, `bf16` or `bfloat16`.
        public init(parsing text: String) throws {
            switch text.lowercased() {
            case "f32", "fp32", "float32": self = .float32
            case "bf16", "bfloat16": self = .bfloat16
            default:
                throw CortexError.invalidArgument(operation: "precision", reason: "unknown precision '\(text)' (f32 or bf16)")
            }
        }

        public var description: String { self == .float32 ? "f32" : "bf16" }
    }

    /// The precision of the current task's float32 matrix products.
    @TaskLocal public static var precision: Precision = .float32

    /// Runs `body` with float32 matrix products computed in `precision`.
    public static func run<Result>(_ precision: Precision, _ body: () throws -> Result) rethrows -> Result {
        try $precision.withValue(precision) { try body() }
    }

    /// Whether bfloat16 products run on the AVX512_BF16 kernel here (otherwise they are emulated).
    public static var hasBFloat16Kernel: Bool { cortex_has_avx512_bf16() != 0 }
}
