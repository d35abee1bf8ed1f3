import Synchronization

/// The kernels a device must provide. Ops and autograd are written once against this protocol;
/// a device plugs in by conforming to it (the CPU backend now, CUDA later) and registering
/// with ``Backends``. Every method works on storages plus layouts, so views reach kernels
/// without copies; outputs are always freshly allocated contiguous storages unless stated.
public protocol Backend: Sendable {
    var device: Device { get }

    // Memory
    func allocate(dtype: DType, count: Int) throws -> Storage
    /// A device storage holding a copy of `bytes` (elements of `dtype`, contiguous).
    func upload(_ bytes: UnsafeRawBufferPointer, dtype: DType, count: Int) throws -> Storage
    /// Writes the viewed elements, in row-major order and in the storage's dtype, to host memory.
    func download(_ storage: Storage, _ layout: Layout, into destination: UnsafeMutableRawPointer) throws
    /// Copies viewed elements into a destination view of the same shape, converting dtype.
    func copy(_ source: Storage, _ sourceLayout: Layout, to destination: Storage, _ destinationLayout: Layout) throws
    func fill(_ storage: Storage, _ layout: Layout, with value: Double) throws

    // Element-wise (float32), outputs contiguous with the given shape
    func unary(_ operation: UnaryOperation, _ x: Storage, _ xLayout: Layout, into out: Storage) throws
    func binary(_ operation: BinaryOperation, _ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                shape: [Int], into out: Storage) throws
    /// Writes bool (one byte per element) results of a comparison.
    func compare(_ operation: CompareOperation, _ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                 shape: [Int], into out: Storage) throws
    /// `out = condition ? a : b`, all broadcast to `shape`.
    func select(_ condition: Storage, _ conditionLayout: Layout, _ a: Storage, _ aLayout: Layout,
                _ b: Storage, _ bLayout: Layout, shape: [Int], into out: Storage) throws

    // Reductions over the given sorted axes; output has those axes removed.
    func reduce(_ operation: ReduceOperation, _ x: Storage, _ xLayout: Layout, axes: [Int], into out: Storage) throws
    /// Max or min along one axis with the position of the extreme (int64), first occurrence on ties.
    func extremeWithIndex(maximum: Bool, _ x: Storage, _ xLayout: Layout, axis: Int,
                          values: Storage, indices: Storage) throws
    /// Softmax (or log-softmax) of each contiguous row of length `columns`.
    func softmax(_ x: Storage, rows: Int, columns: Int, logarithm: Bool, into out: Storage) throws
    /// Gradient of softmax (or log-softmax) given its output `y` and upstream gradient `g`, both contiguous.
    func softmaxBackward(output y: Storage, gradient g: Storage, rows: Int, columns: Int, logarithm: Bool,
                         into out: Storage) throws

    // Linear algebra: out[batch] = op(a[batch]) x op(b[batch]) for broadcast batch shapes, float32
    // operands (rounded to bfloat16 under `.bfloat16` autocast) accumulated in float32.
    func matmul(_ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                outputShape: [Int], precision: Autocast.Precision, into out: Storage) throws

    // Indexing; index storages are int32 or int64.
    func gather(_ x: Storage, _ xLayout: Layout, axis: Int, index: Storage, _ indexLayout: Layout, into out: Storage) throws
    /// Adds `source` into `destination` (contiguous, shape `destinationShape`) at `index` along `axis`.
    func scatterAdd(into destination: Storage, destinationShape: [Int], axis: Int,
                    index: Storage, _ indexLayout: Layout, source: Storage, _ sourceLayout: Layout) throws
    func indexSelect(_ x: Storage, _ xLayout: Layout, axis: Int, indices: Storage, _ indicesLayout: Layout,
                     into out: Storage) throws
    /// Adds slices of `source` into `destination` (contiguous, shape `destinationShape`) at `indices` along `axis`.
    func indexAdd(into destination: Storage, destinationShape: [Int], axis: Int,
                  indices: Storage, _ indicesLayout: Layout, source: Storage, _ sourceLayout: Layout) throws
    /// Zeroes elements above (`upper == false`, tril) or below (`upper == true`, triu) the `diagonal`
    /// of the last two axes.
    func triangle(_ x: Storage, _ xLayout: Layout, diagonal: Int, upper: Bool, into out: Storage) throws

    // Convolution helpers (N, C, H, W) <-> (N, C*kh*kw, L), PyTorch's unfold/fold.
    // The columns have shape (N, C*kh*kw, L) and may lie in memory with any strides for their
    // first two axes (the last is contiguous): `(C*kh*kw, N, L)` order folds a batch into one
    // matrix product.
    func im2col(_ x: Storage, _ xLayout: Layout, geometry: ConvolutionGeometry, into out: Storage, _ outLayout: Layout) throws
    func col2im(_ columns: Storage, _ columnsLayout: Layout, geometry: ConvolutionGeometry, into out: Storage) throws

    /// Max pooling of an (N, C, H, W) input: each window's maximum and its position h * W + w
    /// in the input plane (int64); padding never wins. Output (N, C, outputHeight, outputWidth).
    func maxPool2d(_ x: Storage, _ xLayout: Layout, geometry: ConvolutionGeometry, values: Storage, indices: Storage) throws
    /// Routes each pooled gradient to its window's maximum: `out` (N, C, H, W) is overwritten.
    func maxPool2dBackward(gradient: Storage, _ gradientLayout: Layout, indices: Storage, geometry: ConvolutionGeometry,
                           into out: Storage) throws

    /// One fused optimizer update in place over `count` contiguous float32 elements of each
    /// buffer (at its element offset): the parameter, its gradient, then the rule's state.
    /// Returns false where the backend has no fused kernel (optimizers then compose ops).
    func optimizerStep(_ rule: OptimizerRule, buffers: [(storage: Storage, offset: Int)], count: Int) throws -> Bool
}

extension Backend {
    public func optimizerStep(_ rule: OptimizerRule, buffers: [(storage: Storage, offset: Int)], count: Int) throws -> Bool { false }
}

/// The update rules with fused kernels (torch.optim's arithmetic; see `Tensor.applyOptimizerStep`).
public enum OptimizerRule: Sendable, Equatable {
    /// State: the momentum buffer when momentum is non-zero (overwritten on the first step).
    case sgd(learningRate: Float, momentum: Float, dampening: Float, weightDecay: Float, nesterov: Bool, maximize: Bool,
             firstStep: Bool)
    /// State: first and second moments, plus the running maximum of the second with amsgrad.
    /// `step` counts from 1 (bias corrections).
    case adam(learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, decoupledWeightDecay: Bool,
              amsgrad: Bool, step: Int)

    /// Floating-point operations of the update per parameter element, for ``FLOPCounter``:
    /// SGD's decay, momentum and step; Adam's decay, two moment updates, bias corrections,
    /// square root, division and step.
    public var operationsPerElement: Int {
        switch self {
        case let .sgd(_, momentum, _, weightDecay, nesterov, _, _):
            return 2 + (weightDecay == 0 ? 0 : 2) + (momentum == 0 ? 0 : 3) + (nesterov ? 2 : 0)
        case let .adam(_, _, _, _, weightDecay, _, amsgrad, _):
            return 11 + (weightDecay == 0 ? 0 : 2) + (amsgrad ? 1 : 0)
        }
    }

    /// How many state buffers the rule updates.
    public var stateCount: Int {
        switch self {
        case let .sgd(_, momentum, _, _, _, _, _): return momentum == 0 ? 0 : 1
        case let .adam(_, _, _, _, _, _, amsgrad, _): return amsgrad ? 3 : 2
        }
    }
}

/// Sliding-window geometry shared by im2col and col2im.
public struct ConvolutionGeometry: Sendable, Equatable {
    public var batch: Int, channels: Int, height: Int, width: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideHeight: Int, strideWidth: Int
    public var paddingHeight: Int, paddingWidth: Int
    public var dilationHeight: Int, dilationWidth: Int

    public var outputHeight: Int { (height + 2 * paddingHeight - dilationHeight * (kernelHeight - 1) - 1) / strideHeight + 1 }
    public var outputWidth: Int { (width + 2 * paddingWidth - dilationWidth * (kernelWidth - 1) - 1) / strideWidth + 1 }
    public var columnsShape: [Int] { [batch, channels * kernelHeight * kernelWidth, outputHeight * outputWidth] }
}

public enum UnaryOperation: Sendable, Equatable {
    case negate, exp, log, sqrt, rsqrt, abs, sign, reciprocal, square, sin, cos
    case relu, sigmoid, tanh, gelu, geluTanh, silu
    case softplus(beta: Float, threshold: Float)
    case leakyRelu(slope: Float)
    case power(Float)
    case clamp(minimum: Float, maximum: Float)
    case affine(scale: Float, shift: Float)
}

/// Binary element-wise operations: arithmetic, plus the fused gradients of activations
/// (`a` is the activation's input or output as noted, `b` the upstream gradient).
public enum BinaryOperation: Sendable, Equatable {
    case add, subtract, multiply, divide, power, maximum, minimum
    case reluBackward, sigmoidBackwardFromOutput, tanhBackwardFromOutput, geluBackward, geluTanhBackward, siluBackward
    case softplusBackward(beta: Float, threshold: Float)
    case leakyReluBackward(slope: Float)
    case clampBackward(minimum: Float, maximum: Float)
}

public enum CompareOperation: Sendable, Equatable {
    case equal, notEqual, less, lessEqual, greater, greaterEqual
}

public enum ReduceOperation: Sendable, Equatable {
    case sum, maximum, minimum
}

/// The backend registered for each device.
public enum Backends {
    public static func backend(for device: Device) throws -> any Backend {
        switch device {
        case .cpu: return CPUBackend.shared
        case .cuda:
            guard let factory = registry.withLock({ $0 }) else {
                throw CortexError.deviceUnavailable(device: device.description, reason: "this build has no CUDA backend loaded")
            }
            return try factory(device)
        }
    }

    /// Lets an accelerator backend (loaded at run time) take over the CUDA devices.
    public static func registerCUDA(_ factory: @escaping @Sendable (Device) throws -> any Backend) {
        registry.withLock { $0 = factory }
    }

    private static let registry = Mutex<(@Sendable (Device) throws -> any Backend)?>(nil)
}
